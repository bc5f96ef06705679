// Copies the licence of every npm package bundled (per esbuild's metafiles) into OUT/licenses,
// and writes OUT/licenses/PACKAGES.txt: name, version, licence. Fails when one has no licence.
import fs from "node:fs";
import path from "node:path";

const [out, ...metafiles] = process.argv.slice(2);
const folders = new Set();
for (const file of metafiles) {
  for (const input of Object.keys(JSON.parse(fs.readFileSync(file, "utf8")).inputs)) {
    const match = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (match) folders.add(match[1]);
  }
}
const target = path.join(out, "licenses");
fs.mkdirSync(target, { recursive: true });
const lines = [];
for (const folder of [...folders].sort()) {
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, "package.json"), "utf8"));
  const licence = fs.readdirSync(folder).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const name = `${manifest.name.replace("/", "__")}-${manifest.version}.txt`;
  if (licence) {
    fs.copyFileSync(path.join(folder, licence), path.join(target, name));
  } else if (manifest.license) {
    // A few packages ship no licence file; their declared licence is recorded instead.
    fs.writeFileSync(path.join(target, name), `${manifest.name} ${manifest.version}: ${manifest.license} ` +
      `(declared in its package.json; the package ships no licence file)\n`);
  } else {
    console.error(`no licence for ${manifest.name}`);
    process.exit(1);
  }
  lines.push(`${manifest.name} ${manifest.version} ${manifest.license ?? "see file"}`);
}
fs.writeFileSync(path.join(target, "PACKAGES.txt"), [...new Set(lines)].join("\n") + "\n");
console.log(`licences of ${lines.length} packages in ${target}`);
