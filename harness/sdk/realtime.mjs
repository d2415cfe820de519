// Realtime through the official PocketBase JS SDK's subscribe(), used as an app uses it.
//
// Env: BASE_URL, EMAIL, PASSWORD (a superuser) and COLLECTION (a fresh collection name).
// Node has no EventSource, which the SDK's realtime client needs: the `eventsource`
// package provides the standard one. Two clients subscribe to COLLECTION (listRule
// `public = true`, viewRule ""): a superuser to "*" and to one record, a guest to "*".
// Records are created, updated and deleted through the API; each client's events are
// printed as ONE JSON document (ids -> creation index, timestamps dropped, sorted keys,
// events sorted per client), so two servers compare with `==`.

import { EventSource } from "eventsource";
import PocketBase from "pocketbase";

globalThis.EventSource = EventSource;

const env = (key) => {
  const value = process.env[key];
  if (!value) throw new Error(`missing environment variable ${key}`);
  return value;
};
const BASE_URL = env("BASE_URL");
const C = env("COLLECTION");

const ids = [];
let collectionId = null;
const DROPPED = new Set(["created", "updated"]);
function normalise(value) {
  if (typeof value === "string") {
    const i = ids.indexOf(value);
    if (i >= 0) return `#${i}`;
    if (value === collectionId) return "$COLLECTION_ID";
    return value;
  }
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      if (!DROPPED.has(key)) out[key] = normalise(value[key]);
    }
    return out;
  }
  return value;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const admin = new PocketBase(BASE_URL);
  admin.autoCancellation(false);
  await admin.collection("_superusers").authWithPassword(env("EMAIL"), env("PASSWORD"));
  const created = await admin.collections.create({
    name: C,
    type: "base",
    listRule: "public = true",
    viewRule: "",
    fields: [
      { name: "title", type: "text" },
      { name: "public", type: "bool" },
      { name: "secret", type: "text", hidden: true },
    ],
  });
  collectionId = created.id;
  const guest = new PocketBase(BASE_URL);
  guest.autoCancellation(false);
  const seen = { superuser: [], guest: [], one: [] };
  const first = await admin.collection(C).create({ title: "first", public: true, secret: "s1" });
  ids.push(first.id);
  const unsubscribe = [
    await admin.collection(C).subscribe("*", (e) => seen.superuser.push(e)),
    await admin.collection(C).subscribe(first.id, (e) => seen.one.push(e)),
    await guest.collection(C).subscribe("*", (e) => seen.guest.push(e)),
  ];
  const second = await admin.collection(C).create({ title: "second", public: false, secret: "s2" });
  ids.push(second.id);
  await admin.collection(C).update(first.id, { title: "first, changed" });
  await admin.collection(C).update(second.id, { public: true });
  await admin.collection(C).delete(first.id);
  for (let i = 0; i < 100 && (seen.superuser.length < 4 || seen.guest.length < 3); i++) {
    await sleep(50);
  }
  await sleep(200); // anything sent that should not have been arrives now
  for (const stop of unsubscribe) await stop();
  await admin.collections.delete(C);
  const events = (list) =>
    list
      .map((e) => normalise({ action: e.action, record: e.record }))
      .map((e) => JSON.stringify(e))
      .sort()
      .map((e) => JSON.parse(e));
  const out = {};
  for (const [who, list] of Object.entries(seen)) out[who] = events(list);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  guest.realtime.unsubscribe();
  admin.realtime.unsubscribe();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err?.stack ?? err}\n${JSON.stringify(err?.response ?? {})}\n`);
    process.exit(1);
  },
);
