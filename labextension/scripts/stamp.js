/**
 * Write bundle.sha256: the hash of every source the production bundle in
 * ../nbray/labextension is built from (`jlpm build:prod` runs this last).
 *
 * tests/labextension/test_bundle.py computes the same hash and fails when the
 * committed bundle is older than the sources. Keep the two in step: sha256 over
 * the files sorted by path, each as `path \0 bytes`.
 */
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

function walk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (rel !== 'src/__tests__') {
        out.push(...walk(rel));
      }
    } else if (entry.isFile()) {
      out.push(rel);
    }
  }
  return out;
}

function sourceHash() {
  const files = [...walk('src'), ...walk('style'), 'package.json', 'tsconfig.json', 'yarn.lock'];
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(Buffer.from(`${file}\0`, 'utf8'));
    hash.update(fs.readFileSync(path.join(root, file)));
  }
  return hash.digest('hex');
}

fs.writeFileSync(path.join(root, 'bundle.sha256'), `${sourceHash()}\n`);
