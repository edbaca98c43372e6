// Builds a minimal OCI image layout by hand (one gzip layer) so tests can push an image
// with skopeo without a Docker engine.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A ustar archive holding one regular file. */
export function tarOneFile (name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => { header.write(s.slice(0, len), off, 'ascii'); };
  const octal = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(content.length, 12), 124, 12);
  put(octal(1_700_000_000, 12), 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of header) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

/** Writes an OCI layout into `dir` with one image tagged `tag`; returns the manifest digest. */
export async function writeOciLayout (dir: string, tag: string, fileContent = 'hello from credbroker tests\n'): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (data: Buffer | string): Promise<{ digest: string, size: number }> => {
    const hex = sha256(data);
    await writeFile(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  const tar = tarOneFile('hello.txt', Buffer.from(fileContent));
  const layer = await blob(gzipSync(tar));
  const config = await blob(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] }
  }));
  const manifest = await blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }]
  }));
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      annotations: { 'org.opencontainers.image.ref.name': tag }
    }]
  }));
  return manifest.digest;
}
