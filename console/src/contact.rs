//! A service's contacts as a reader can use them: a telephone number as a
//! `tel:` link, an e-mail address as `mailto:`, a web page as a link. The
//! values come from the partners and may be hostile: only what has the
//! plain shape of a number, an address or an `http`/`https` page becomes a
//! link; anything else is shown as text (the templates escape it either
//! way).

use trama_proto::v1;

use crate::lang::Texts;

/// One way to reach a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// What it is (telephone, e-mail, web site), in the reader's words.
    pub label: &'static str,
    /// The value as the partner wrote it.
    pub text: String,
    /// The link, when the value is safe to follow.
    pub href: Option<String>,
}

/// The contacts `s` publishes, in the order phone, e-mail, web site.
pub fn of(s: &v1::Service, t: &Texts) -> Vec<Contact> {
    [
        (
            t.public_phone,
            s.phone.trim(),
            tel as fn(&str) -> Option<String>,
        ),
        (t.public_email, s.email.trim(), mailto),
        (t.public_website, s.url.trim(), web),
    ]
    .into_iter()
    .filter(|(_, text, _)| !text.is_empty())
    .map(|(label, text, link)| Contact {
        label,
        text: text.to_string(),
        href: link(text),
    })
    .collect()
}

/// A telephone number as a `tel:` link (digits, a leading `+`), if it is
/// written only with digits, spaces, dots, dashes, slashes and brackets.
pub fn tel(phone: &str) -> Option<String> {
    let phone = phone.trim();
    let plain = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || " .-/()".contains(c) || (i == 0 && c == '+'));
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (plain && (3..=15).contains(&digits.len())).then(|| {
        let plus = if phone.starts_with('+') { "+" } else { "" };
        format!("tel:{plus}{digits}")
    })
}

/// An e-mail address as a `mailto:` link, if it is one plain address
/// (letters, digits and `._%+-` before the `@`, a domain with a dot after
/// it; nothing that would add headers or a second recipient).
pub fn mailto(email: &str) -> Option<String> {
    let (local, domain) = email.trim().split_once('@')?;
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
    let domain_ok = domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
    (local_ok && domain_ok).then(|| format!("mailto:{local}@{domain}"))
}

/// A web page as a link, if it is an `http` or `https` address with a host
/// and no user name or password in it (`https://ente.it@altro.example`
/// would take the reader elsewhere than it reads).
pub fn web(address: &str) -> Option<String> {
    let url = url::Url::parse(address.trim()).ok()?;
    let fits = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    fits.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_tel_links_and_nothing_else_does() {
        for (phone, want) in [
            ("0372 500101", Some("tel:0372500101")),
            ("+39 0372-500.101", Some("tel:+390372500101")),
            ("(0372) 500101", Some("tel:0372500101")),
            ("0372 500101 (ore 9-12)", None),
            ("javascript:alert(1)", None),
            ("12", None),
            ("0372+500", None),
        ] {
            assert_eq!(tel(phone).as_deref(), want, "{phone}");
        }
    }

    #[test]
    fn addresses_become_mailto_links_and_nothing_else_does() {
        for (email, want) in [
            (
                "servizi@gabbiano.example.it",
                Some("mailto:servizi@gabbiano.example.it"),
            ),
            (
                " info+sad@comune.cremona.it ",
                Some("mailto:info+sad@comune.cremona.it"),
            ),
            ("a@b@c.it", None),
            ("x@evil.it?bcc=all@x.it", None),
            ("javascript:alert(1)//@x.it", None),
            ("\"><script>@x.it", None),
            ("nessuna", None),
            ("x@localhost", None),
        ] {
            assert_eq!(mailto(email).as_deref(), want, "{email}");
        }
    }

    #[test]
    fn only_http_and_https_pages_become_links() {
        for (address, want) in [
            (
                "https://gabbiano.example.it",
                Some("https://gabbiano.example.it/"),
            ),
            (
                "http://comune.cremona.it/sad?x=1",
                Some("http://comune.cremona.it/sad?x=1"),
            ),
            ("javascript:alert(1)", None),
            ("JavaScript:alert(1)", None),
            (" javascript:alert(1)", None),
            ("data:text/html,<script>alert(1)</script>", None),
            ("vbscript:msgbox", None),
            ("https://ente.it@evil.example", None),
            ("//evil.example", None),
            ("www.gabbiano.example.it", None),
            ("file:///etc/passwd", None),
        ] {
            assert_eq!(web(address).as_deref(), want, "{address}");
        }
    }

    #[test]
    fn a_hostile_value_is_kept_as_text_without_a_link() {
        let s = v1::Service {
            phone: "0372 500101".into(),
            email: "javascript:alert(1)".into(),
            url: "javascript:alert(1)".into(),
            ..Default::default()
        };
        let shown = of(&s, &crate::lang::IT);
        assert_eq!(shown.len(), 3);
        assert_eq!(shown[0].href.as_deref(), Some("tel:0372500101"));
        assert!(shown[1..].iter().all(|c| c.href.is_none()));
        assert_eq!(shown[2].text, "javascript:alert(1)");
    }
}
