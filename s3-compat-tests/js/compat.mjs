// The AWS SDK for JavaScript v3 against a live s3server, driven by s3-compat-tests/test_compat_js_sdk.py.
//
// `node compat.mjs run` exercises the client feature by feature and leaves the objects under keep/ for
// the Python side to check with its own client; `node compat.mjs cleanup` then removes everything with
// DeleteObjects and deletes the bucket. Each prints one JSON object on stdout:
//   {"version": "...", "features": {"put": {"ok": true}, "large": {"ok": false, "error": "..."}},
//    "md5": {"keep/small.txt": "<hex>", ...}}
// Endpoint, credentials and bucket come from S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET.

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const MiB = 1024 * 1024;
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const client = new S3Client({
  endpoint: env("S3_ENDPOINT"),
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: env("S3_ACCESS_KEY"), secretAccessKey: env("S3_SECRET_KEY") },
  maxAttempts: 1,
});
const Bucket = env("S3_BUCKET");

const report = {
  version: JSON.parse(
    readFileSync(new URL("./node_modules/@aws-sdk/client-s3/package.json", import.meta.url)),
  ).version,
  features: {},
  md5: {},
};

const md5 = (bytes) => createHash("md5").update(bytes).digest("hex");
const check = (condition, message) => {
  if (!condition) throw new Error(message);
};

// A feature passes only if every block recorded under its name did.
async function feature(name, body) {
  try {
    await body();
    if (!(name in report.features)) report.features[name] = { ok: true };
  } catch (error) {
    const text = `${error.name ?? "Error"}: ${error.message ?? error}`;
    if (report.features[name]?.ok !== false) report.features[name] = { ok: false, error: text };
  }
}

async function bodyBytes(response) {
  return Buffer.from(await response.Body.transformToByteArray());
}

async function listKeys(Prefix, Delimiter) {
  const keys = [];
  const prefixes = [];
  let ContinuationToken;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket, Prefix, Delimiter, MaxKeys: 3, ContinuationToken }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key));
    prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return { keys, prefixes };
}

async function run() {
  const small = Buffer.from("hello from the AWS SDK for JavaScript v3\n".repeat(40));
  const large = randomBytes(12 * MiB + 77);

  await feature("bucket", async () => {
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(new HeadBucketCommand({ Bucket }));
  });

  await feature("put", async () => {
    const put = await client.send(
      new PutObjectCommand({
        Bucket,
        Key: "keep/small.txt",
        Body: small,
        ContentType: "text/plain",
        Metadata: { origin: "js" },
      }),
    );
    check(put.ETag === `"${md5(small)}"`, `PutObject ETag ${put.ETag}`);
    report.md5["keep/small.txt"] = md5(small);
    // A stream body of known length goes out aws-chunked, with the checksum in a trailer.
    const pieces = [small.subarray(0, 700), small.subarray(700)];
    const streamed = await client.send(
      new PutObjectCommand({
        Bucket,
        Key: "keep/streamed.txt",
        Body: Readable.from(pieces),
        ContentLength: small.length,
      }),
    );
    check(streamed.ETag === `"${md5(small)}"`, `streamed PutObject ETag ${streamed.ETag}`);
    report.md5["keep/streamed.txt"] = md5(small);
  });

  await feature("get", async () => {
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "keep/small.txt" }));
    check(md5(await bodyBytes(got)) === md5(small), "GetObject bytes differ");
    const ranged = await client.send(
      new GetObjectCommand({ Bucket, Key: "keep/small.txt", Range: "bytes=6-10" }),
    );
    check((await bodyBytes(ranged)).equals(small.subarray(6, 11)), "ranged GetObject bytes differ");
  });

  await feature("head", async () => {
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: "keep/small.txt" }));
    check(head.ContentLength === small.length, `HeadObject ContentLength ${head.ContentLength}`);
    check(head.ETag === `"${md5(small)}"`, `HeadObject ETag ${head.ETag}`);
    check(head.Metadata?.origin === "js", `HeadObject Metadata ${JSON.stringify(head.Metadata)}`);
  });

  await feature("large", async () => {
    // lib-storage splits the body into 5 MiB parts and uploads them concurrently.
    const upload = new Upload({
      client,
      params: { Bucket, Key: "keep/large.bin", Body: large },
      partSize: 5 * MiB,
      queueSize: 3,
      leavePartsOnError: false,
    });
    const done = await upload.done();
    check(/-3"$/.test(done.ETag ?? ""), `multipart ETag ${done.ETag}`);
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "keep/large.bin" }));
    check(md5(await bodyBytes(got)) === md5(large), "multipart object bytes differ");
    report.md5["keep/large.bin"] = md5(large);
  });

  const tree = ["tree/a/1.txt", "tree/a/2.txt", "tree/b/3.txt", "tree/c/d/4.txt", "tree/top.txt"];
  for (const Key of tree) {
    await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));
  }

  await feature("list", async () => {
    const { keys } = await listKeys("tree/");
    check(JSON.stringify(keys) === JSON.stringify([...tree].sort()), `ListObjectsV2 keys ${keys}`);
  });

  await feature("folders", async () => {
    const { keys, prefixes } = await listKeys("tree/", "/");
    check(JSON.stringify(prefixes) === JSON.stringify(["tree/a/", "tree/b/", "tree/c/"]), `prefixes ${prefixes}`);
    check(JSON.stringify(keys) === JSON.stringify(["tree/top.txt"]), `keys ${keys}`);
  });

  await feature("copy", async () => {
    await client.send(
      new CopyObjectCommand({ Bucket, Key: "keep/copy.txt", CopySource: `${Bucket}/keep/small.txt` }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "keep/copy.txt" }));
    check(md5(await bodyBytes(got)) === md5(small), "copied bytes differ");
    report.md5["keep/copy.txt"] = md5(small);
  });

  await feature("delete", async () => {
    await client.send(new DeleteObjectCommand({ Bucket, Key: "tree/top.txt" }));
    const { keys } = await listKeys("tree/top");
    check(keys.length === 0, `still listed after DeleteObject: ${keys}`);
  });
}

async function cleanup() {
  await feature("bulk-delete", async () => {
    const { keys } = await listKeys("");
    const answer = await client.send(
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    check(!answer.Errors?.length, `DeleteObjects errors ${JSON.stringify(answer.Errors)}`);
    check((answer.Deleted ?? []).length === keys.length, "DeleteObjects did not report every key");
    const after = await listKeys("");
    check(after.keys.length === 0, `left after DeleteObjects: ${after.keys}`);
  });

  await feature("bucket", async () => {
    await client.send(new DeleteBucketCommand({ Bucket }));
  });
}

const phase = process.argv[2];
if (phase === "run") await run();
else if (phase === "cleanup") await cleanup();
else throw new Error(`usage: node compat.mjs run|cleanup (got ${phase})`);
console.log(JSON.stringify(report));
