// An HSDS 3.0 consumer, written from the published specification
// (Open Referral's OpenAPI description and compiled JSON Schemas, vendored
// in tests/hsds/): it reads an API the way a portal would, checking every
// answer against the schemas, and prints what it found as one JSON line.
//
// node hsds-consumer.mjs BASE_URL   (trust the server's CA with NODE_EXTRA_CA_CERTS)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const base = process.argv[2].replace(/\/$/, "");
const here = dirname(fileURLToPath(import.meta.url));
const schema = (name) => JSON.parse(readFileSync(join(here, "..", "hsds", `${name}.json`), "utf8"));

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validService = ajv.compile(schema("service"));
const validListed = ajv.compile(schema("service_list"));
const problems = [];

async function get(path) {
  const response = await fetch(base + path, { headers: { accept: "application/json" } });
  const body = await response.json();
  return { status: response.status, body };
}

function check(valid, value, where) {
  if (!valid(value)) {
    problems.push({ where, errors: valid.errors.map((e) => `${e.instancePath} ${e.message}`) });
  }
}

// The Page envelope of the OpenAPI description.
function checkPage(page, where, perPage) {
  for (const key of ["total_items", "total_pages", "page_number", "size"]) {
    if (!Number.isInteger(page[key])) problems.push({ where, errors: [`${key} is not an integer`] });
  }
  for (const key of ["first_page", "last_page", "empty"]) {
    if (typeof page[key] !== "boolean") problems.push({ where, errors: [`${key} is not a boolean`] });
  }
  if (!Array.isArray(page.contents) || page.contents.length !== page.size || page.size > perPage) {
    problems.push({ where, errors: ["contents does not hold size items"] });
  }
}

const root = await get("/");
const ids = [];
let page = 1;
let total = -1;
for (;;) {
  const where = `/services?page=${page}&per_page=10`;
  const { status, body } = await get(where);
  if (status !== 200) throw new Error(`${where}: ${status} ${JSON.stringify(body)}`);
  checkPage(body, where, 10);
  total = body.total_items;
  for (const s of body.contents) {
    check(validListed, s, `${where} ${s.id}`);
    ids.push(s.id);
  }
  if (body.last_page) break;
  page += 1;
}

const services = [];
for (const id of ids) {
  const where = `/services/${id}`;
  const { status, body } = await get(where);
  if (status !== 200) throw new Error(`${where}: ${status}`);
  check(validService, body, where);
  services.push(body);
}

const search = await get("/services?search=assistenza%20domiciliare&per_page=50");
const food = services
  .flatMap((s) => s.attributes ?? [])
  .find((a) => a.taxonomy_term?.code === "food");
const byTerm = food ? await get(`/services?taxonomy_term_id=${food.taxonomy_term_id}&per_page=100`) : null;
const org = services.find((s) => s.organization?.name === "Cooperativa sociale Il Gabbiano")?.organization_id;
const byOrg = org ? await get(`/services?organization_id=${org}&per_page=100`) : null;

const sad = services.find((s) => s.trama_extensions?.trama_id === "consorzio/GAB-SAD");
console.log(
  JSON.stringify({
    root: root.body,
    total,
    pages: page,
    ids,
    unique: new Set(ids).size,
    problems,
    search: search.body.contents.map((s) => s.trama_extensions.trama_id),
    food: byTerm ? byTerm.body.total_items : null,
    gabbiano: byOrg ? byOrg.body.total_items : null,
    sad_cost: sad?.cost_options?.[0]?.amount ?? null,
    sad_schedules: sad?.schedules?.length ?? 0,
    sad_areas: sad?.service_areas?.map((a) => a.name) ?? [],
  }),
);
