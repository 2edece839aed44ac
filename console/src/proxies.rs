//! Which address a request comes from. Behind the operator's own reverse
//! proxies (`[proxies] trusted`), the client is the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy; from anyone else
//! the header is ignored and the connection's peer is the client. Sign-in
//! and the public catalogue limit each client address, so a client must
//! not be able to choose the one it is counted under.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Reads `trusted`: addresses (`10.0.0.5`) or networks (`10.0.0.0/8`);
    /// `Err` names the entry that is neither.
    pub fn parse(trusted: &[String]) -> Result<TrustedProxies, String> {
        let nets = trusted
            .iter()
            .map(|t| {
                t.parse::<IpNet>()
                    .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{t}` is not an address or a network like 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies(Arc::new(nets)))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `forwarded` (the
    /// `X-Forwarded-For` header's values, in order).
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // An unreadable hop: nothing left of it can be believed.
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let header = ["203.0.113.7, 10.1.2.3"];
        // From a proxy: the right-most address that is not a proxy.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), header.into_iter()),
            ip("203.0.113.7")
        );
        assert_eq!(
            trusted.client(ip("192.0.2.1"), header.into_iter()),
            ip("203.0.113.7")
        );
        // A client claiming an address in the header is not believed.
        assert_eq!(
            trusted.client(ip("198.51.100.9"), header.into_iter()),
            ip("198.51.100.9")
        );
        // Spoofed entries left of the real client do not count.
        let spoofed = ["1.1.1.1, 203.0.113.7"];
        assert_eq!(
            trusted.client(ip("10.0.0.5"), spoofed.into_iter()),
            ip("203.0.113.7")
        );
        // No header, or garbage: the proxy itself, or the last readable hop.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), std::iter::empty()),
            ip("10.0.0.5")
        );
        assert_eq!(
            trusted.client(ip("10.0.0.5"), ["nonsense"].into_iter()),
            ip("10.0.0.5")
        );
        assert!(TrustedProxies::parse(&["proxy.lan".into()]).is_err());
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client(ip("10.0.0.5"), header.into_iter()),
            ip("10.0.0.5")
        );
    }
}
