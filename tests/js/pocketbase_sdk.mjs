// The official `pocketbase` npm SDK against a pb-serverless host: collections
// (admin), then records — list, filter, sort, view, create, update, delete —
// as the admin and as an anonymous client under access rules, and the
// SDK's errors. Run by tests/tests/e2e/records.rs with PB_URL and PB_TOKEN
// (the admin token); any failed assertion exits non-zero.
//
//   PB_URL=http://127.0.0.1:8090 PB_TOKEN=… node tests/js/pocketbase_sdk.mjs

import assert from "node:assert/strict";
import PocketBase, { ClientResponseError } from "pocketbase";

const url = process.env.PB_URL;
const token = process.env.PB_TOKEN;
assert.ok(url && token, "PB_URL and PB_TOKEN must be set");

const admin = new PocketBase(url);
admin.autoCancellation(false);
// The SDK sends the stored token as the Authorization header.
admin.authStore.save(token, null);
const anon = new PocketBase(url);
anon.autoCancellation(false);

/** The ClientResponseError `fn` rejects with. */
async function rejects(fn, status) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ClientResponseError, `not a ClientResponseError: ${e}`);
    assert.equal(e.status, status, `status of ${e.url}: ${JSON.stringify(e.response)}`);
    // Errors the SDK makes itself (getFirstListItem finding nothing) say `code`.
    assert.equal(e.response.status ?? e.response.code, status);
    assert.equal(typeof e.response.message, "string");
    assert.equal(typeof e.response.data, "object");
    return e;
  }
  assert.fail(`expected a ${status} error`);
}

// Collections, through the SDK's collections service (admin only).
await rejects(() => anon.collections.getFullList(), 401);
const created = await admin.collections.create({
  name: "sdk_posts",
  fields: [
    { name: "title", type: "text", required: true },
    { name: "views", type: "number" },
    { name: "status", type: "select", values: ["draft", "published"] },
    { name: "tags", type: "select", values: ["a", "b", "c"], maxSelect: 3 },
    { name: "meta", type: "json" },
  ],
  listRule: "status = 'published'",
  viewRule: "status = 'published'",
  createRule: "",
  updateRule: null,
  deleteRule: null,
});
assert.equal(created.name, "sdk_posts");
const fetched = await admin.collections.getOne("sdk_posts");
assert.equal(fetched.id, created.id);
assert.deepEqual(
  fetched.fields.map((f) => f.name),
  ["id", "title", "views", "status", "tags", "meta", "created", "updated"],
);
const all = await admin.collections.getFullList();
assert.ok(all.some((c) => c.name === "sdk_posts"));
await admin.collections.import([{ name: "sdk_extra", fields: [{ name: "n", type: "number" }] }]);
assert.equal((await admin.collections.getOne("sdk_extra")).name, "sdk_extra");
await admin.collections.delete("sdk_extra");
await rejects(() => admin.collections.getOne("sdk_extra"), 404);

// Records: create.
const posts = admin.collection("sdk_posts");
const ids = [];
for (let i = 0; i < 12; i++) {
  const r = await posts.create({
    title: `post ${String(i).padStart(2, "0")}`,
    views: i * 10,
    status: i % 3 === 0 ? "draft" : "published",
    tags: i % 2 ? ["a"] : ["b", "c"],
    meta: { i },
  });
  assert.equal(r.collectionName, "sdk_posts");
  assert.equal(r.collectionId, created.id);
  assert.equal(r.views, i * 10);
  assert.match(r.id, /^[a-z0-9]{15}$/);
  ids.push(r.id);
}

// List: pages, totals, sort, filter, fields, skipTotal.
const page = await posts.getList(2, 5, { sort: "-views" });
assert.equal(page.page, 2);
assert.equal(page.perPage, 5);
assert.equal(page.totalItems, 12);
assert.equal(page.totalPages, 3);
assert.deepEqual(page.items.map((r) => r.views), [60, 50, 40, 30, 20]);
const filtered = await posts.getList(1, 50, {
  filter: admin.filter("views >= {:min} && status = {:status}", { min: 50, status: "published" }),
  sort: "views",
});
assert.deepEqual(filtered.items.map((r) => r.views), [50, 70, 80, 100, 110]);
const tagged = await posts.getList(1, 50, { filter: "tags ?= 'a' && meta.i < 6" });
assert.equal(tagged.totalItems, 3);
const slim = await posts.getList(1, 2, { fields: "id,title", skipTotal: true });
assert.equal(slim.totalItems, -1);
assert.equal(slim.totalPages, -1);
assert.deepEqual(Object.keys(slim.items[0]).sort(), ["id", "title"]);
const full = await posts.getFullList({ sort: "-created,title", batch: 5 });
assert.equal(full.length, 12);
const first = await posts.getFirstListItem('title = "post 07"');
assert.equal(first.views, 70);
await rejects(() => posts.getFirstListItem('title = "nope"'), 404);
const bad = await rejects(() => posts.getList(1, 10, { filter: "views >>> 1" }), 400);
assert.match(bad.message, /position/);

// View, update, delete.
const one = await posts.getOne(ids[4]);
assert.equal(one.title, "post 04");
assert.deepEqual(one.meta, { i: 4 });
const updated = await posts.update(ids[4], { title: "renamed", views: 41 });
assert.equal(updated.title, "renamed");
assert.equal(updated.views, 41);
assert.equal((await posts.getOne(ids[4], { fields: "title" })).title, "renamed");
assert.equal(await posts.delete(ids[4]), true);
await rejects(() => posts.getOne(ids[4]), 404);
await rejects(() => posts.delete(ids[4]), 404);
await rejects(() => admin.collection("sdk_missing").getList(), 404);

// Validation errors carry PocketBase's field errors.
const invalid = await rejects(() => posts.create({ views: 1 }), 400);
assert.equal(invalid.response.data.title.code, "validation_required");
const wrongSelect = await rejects(() => posts.update(ids[0], { status: "gone" }), 400);
assert.equal(wrongSelect.response.data.status.code, "validation_invalid_value");

// Files: the SDK sends multipart/form-data when a value is a File or Blob.
const withFiles = await admin.collections.create({
  name: "sdk_docs",
  fields: [
    { name: "title", type: "text" },
    { name: "cover", type: "file" },
    { name: "attachments", type: "file", maxSelect: 5 },
  ],
  viewRule: "",
});
const docs = admin.collection("sdk_docs");
const doc = await docs.create({
  title: "with files",
  cover: new File(["cover bytes"], "Cover Image.txt", { type: "text/plain" }),
  attachments: [new Blob(["one"]), new File(["two"], "two.md")],
  meta: { ignored: true },
});
assert.equal(doc.title, "with files");
assert.match(doc.cover, /^cover_image_[a-z0-9]{10}\.txt$/);
assert.equal(doc.attachments.length, 2);
// The SDK's getURL names the collection by id; /api/files maps it.
const fileURL = (record, name) => admin.files.getURL(record, name);
assert.equal(await (await fetch(fileURL(doc, doc.cover))).text(), "cover bytes");
assert.equal(await (await fetch(fileURL(doc, doc.attachments[1]))).text(), "two");
// `field+` adds files; replacing a single file removes the old one.
const more = await docs.update(doc.id, { "attachments+": new File(["three"], "three.md") });
assert.equal(more.attachments.length, 3);
assert.deepEqual(more.attachments.slice(0, 2), doc.attachments);
const replaced = await docs.update(doc.id, { cover: new File(["new cover"], "new.txt") });
assert.notEqual(replaced.cover, doc.cover);
assert.equal((await fetch(fileURL(doc, doc.cover))).status, 404);
assert.equal(await (await fetch(fileURL(replaced, replaced.cover))).text(), "new cover");
// Removing a name through JSON removes the file too.
const fewer = await docs.update(doc.id, { attachments: more.attachments.slice(1) });
assert.equal(fewer.attachments.length, 2);
assert.equal((await fetch(fileURL(doc, more.attachments[0]))).status, 404);
await docs.delete(doc.id);
assert.equal((await fetch(fileURL(replaced, replaced.cover))).status, 404);
assert.equal(withFiles.name, "sdk_docs");

// An anonymous client under the rules.
const pub = anon.collection("sdk_posts");
const visible = await pub.getList(1, 50, { sort: "views" });
assert.equal(visible.totalItems, 7, "drafts are not listed");
assert.ok(visible.items.every((r) => r.status === "published"));
const draftId = ids[3];
await rejects(() => pub.getOne(draftId), 404);
assert.equal((await pub.getOne(ids[1])).views, 10);
const mine = await pub.create({ title: "from anon", status: "published", views: 5 });
assert.equal(mine.title, "from anon");
await rejects(() => pub.update(mine.id, { title: "x" }), 403);
await rejects(() => pub.delete(mine.id), 403);

console.log("pocketbase sdk: all checks passed");
