// Parses WhatsApp text exports with the npm package whatsapp-chat-parser, an independent
// parser, and prints what it read as JSON on stdout, for the differential test
// (tests/tests/whatsapp_differential.rs):
//
//   CHATVAULT_TOOLS=$(scripts/tools-dir.sh) node parse.mjs [--transliterate] FILE...
//
// --transliterate: the files' native digits (Arabic-Indic, Persian) are made ASCII, the
// Arabic comma a comma, and U+200F dropped before the package reads them. The package only
// knows ASCII digits, so without this it reads nothing of an Arabic or Persian export; the
// test applies the same mapping to ChatVault's output before comparing (a context-free
// character mapping, no header parsing: the peer stays independent).
//
// Output: { "<FILE>": [ { "date": "YYYY-MM-DDTHH:MM:SS" | null, "author": "..." | null,
// "message": "..." }, ... ], ... }. The package builds each date as a JS Date in the local
// zone from the export's wall-clock fields; the fields are read back with the getters of
// that same zone, so the wall clock comes out exactly whatever TZ is (no DST gap can shift
// it when TZ=UTC, which the test sets). A date the package could not build is null.
// Options are the package's defaults (day/month order inferred from the file, attachments
// not parsed), as a user would call it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

// whatsapp-chat-parser is installed by scripts/test.sh under $CHATVAULT_TOOLS (scripts/tools-dir.sh).
const tools = process.env.CHATVAULT_TOOLS;
if (!tools) throw new Error('set CHATVAULT_TOOLS to the folder holding node_modules/whatsapp-chat-parser');
const whatsapp = createRequire(join(tools, 'node_modules', 'resolve.js'))('whatsapp-chat-parser');

const pad = (n, w = 2) => String(n).padStart(w, '0');
function wallClock(d) {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) return null;
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    + `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function transliterate(text) {
  return text
    .replace(/[\u0660-\u0669]/g, (c) => String(c.charCodeAt(0) - 0x0660))
    .replace(/[\u06F0-\u06F9]/g, (c) => String(c.charCodeAt(0) - 0x06F0))
    .replace(/\u060C/g, ',')
    .replace(/\u200F/g, '');
}

let args = process.argv.slice(2);
const translit = args[0] === '--transliterate';
if (translit) args = args.slice(1);
const out = {};
for (const file of args) {
  const read = readFileSync(file, 'utf8');
  const text = translit ? transliterate(read) : read;
  out[file] = whatsapp.parseString(text).map((m) => ({
    date: wallClock(m.date),
    author: m.author,
    message: m.message,
  }));
}
process.stdout.write(JSON.stringify(out));
