// CRUD through the official PocketBase JS SDK, used exactly as an application would.
//
// Env: BASE_URL, EMAIL, PASSWORD (a superuser) and COLLECTION (a fresh collection name).
// Prints ONE JSON document on stdout: every step's result, normalised so that two servers
// can be compared with `==` (ids -> creation index, timestamps and tokens dropped, the
// collection name/id replaced by placeholders). Exit code 1 on any unexpected failure,
// with the reason on stderr; expected errors (400/404) are part of the document.

import { readFileSync } from "node:fs";
import PocketBase, { ClientResponseError } from "pocketbase";

const env = (key) => {
  const value = process.env[key];
  if (!value) throw new Error(`missing environment variable ${key}`);
  return value;
};

const BASE_URL = env("BASE_URL");
const EMAIL = env("EMAIL");
const PASSWORD = env("PASSWORD");
const C = env("COLLECTION");

// The exact SDK build under test, read from the installed package rather than trusted from
// package.json, so the report shows what actually ran.
const sdkVersion = JSON.parse(
  readFileSync(new URL("./node_modules/pocketbase/package.json", import.meta.url), "utf8"),
).version;

// Values that differ between servers and runs without meaning anything.
const DROPPED_KEYS = new Set(["created", "updated", "token"]);
const recordIds = []; // creation order -> server id
let collectionId = null;

function placeholder(value) {
  const index = recordIds.indexOf(value);
  if (index >= 0) return `#${index}`;
  if (collectionId !== null && value === collectionId) return "$COLLECTION_ID";
  return value.split(C).join("$COLLECTION");
}

function normalise(value) {
  if (typeof value === "string") return placeholder(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object") {
    const out = {};
    // Sorted keys: servers may serialise fields in a different order; JSON objects are
    // unordered, and a stable order keeps diffs readable.
    for (const key of Object.keys(value).sort()) {
      if (!DROPPED_KEYS.has(key)) out[key] = normalise(value[key]);
    }
    return out;
  }
  return value;
}

// Runs a call that must fail with a ClientResponseError; anything else is unexpected.
async function expectError(call) {
  try {
    const result = await call();
    throw new Error(`expected a ClientResponseError, got ${JSON.stringify(result)}`);
  } catch (err) {
    if (!(err instanceof ClientResponseError) || err.status === 0) throw err;
    return normalise({ status: err.status, response: err.response });
  }
}

const pb = new PocketBase(BASE_URL);
// The SDK cancels a pending request when an identical one starts; steps here are
// sequential, but disabling it keeps a slow server from ever turning into an abort.
pb.autoCancellation(false);

const steps = {};
let collectionCreated = false;

async function run() {
  const auth = await pb.collection("_superusers").authWithPassword(EMAIL, PASSWORD);
  steps.auth = {
    hasToken: typeof auth.token === "string" && auth.token.length > 0,
    isValid: pb.authStore.isValid,
    isSuperuser: pb.authStore.isSuperuser,
    email: auth.record.email,
    collectionName: auth.record.collectionName,
  };

  const collection = await pb.collections.create({
    name: C,
    type: "base",
    fields: [
      { name: "title", type: "text", required: true },
      { name: "n", type: "number" },
      { name: "ok", type: "bool" },
      { name: "meta", type: "json" },
      { name: "tags", type: "select", maxSelect: 3, values: ["x", "y", "z"] },
    ],
  });
  collectionCreated = true;
  collectionId = collection.id;
  steps.createCollection = normalise(collection);

  const inputs = [
    { title: "alpha", n: 1, ok: true, meta: { a: 1, nested: { b: [1, 2] } }, tags: ["x", "y"] },
    { title: "beta", n: 5, ok: true, meta: null, tags: ["y"] },
    { title: "gamma", n: 10, ok: false, meta: [1, "two"], tags: [] },
    { title: "delta", n: 7, ok: true, meta: "just a string", tags: ["z", "x"] },
  ];
  const records = pb.collection(C);
  steps.create = [];
  for (const input of inputs) {
    const created = await records.create(input);
    recordIds.push(created.id);
    steps.create.push(normalise(created));
  }

  steps.getOne = normalise(await records.getOne(recordIds[1]));

  const filter = pb.filter("ok = {:ok} && n > {:n}", { ok: true, n: 2 });
  steps.getList = normalise({ filter, ...(await records.getList(1, 20, { sort: "-n", filter })) });

  steps.getFullList = normalise(await records.getFullList({ sort: "title" }));

  steps.update = normalise(
    await records.update(recordIds[0], { title: "alpha2", "n+": 10, "tags-": "x", "tags+": "z" }),
  );

  steps.delete = await records.delete(recordIds[2]);
  steps.getDeleted = await expectError(() => records.getOne(recordIds[2]));

  steps.createMissingRequired = await expectError(() => records.create({ n: 1 }));
  steps.badFilter = await expectError(() => records.getList(1, 20, { filter: "nope = 1" }));
}

let failure = null;
try {
  await run();
} catch (err) {
  failure = err;
} finally {
  // Always drop the collection so a failed run leaves the target clean for the next one.
  if (collectionCreated) {
    try {
      steps.deleteCollection = await pb.collections.delete(C);
    } catch (err) {
      failure ??= err;
    }
  }
}

if (failure !== null) {
  const detail = failure instanceof ClientResponseError
    ? `${failure.status} ${failure.url}: ${JSON.stringify(failure.response)}`
    : failure.stack ?? String(failure);
  process.stderr.write(`crud.mjs: unexpected failure: ${detail}\n`);
  process.stderr.write(`crud.mjs: steps completed: ${Object.keys(steps).join(", ")}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(JSON.stringify({ sdk: { name: "pocketbase", version: sdkVersion }, steps }, null, 2) + "\n");
}
