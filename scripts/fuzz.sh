#!/usr/bin/env bash
# Fuzzes the chat export parsers: WhatsApp text, Telegram JSON and HTML, WeChat message XML,
# WhatsApp backup headers (crypt15/14/12), iPhone backup keybags, file records and older
# Manifest.mbdb indexes, and
# WhatsApp's databases (msgstore.db, ChatStorage.sqlite) with the protobuf blobs in them.
#   scripts/fuzz.sh [SECONDS-PER-TARGET]   (default 300)
# Installs cargo-fuzz into the tools cache (scripts/tools-dir.sh) if missing. libFuzzer needs unstable compiler flags:
# on a stable toolchain they are unlocked with RUSTC_BOOTSTRAP=1 (no nightly needed).
# Crashes land in fuzz/artifacts/<target>/; the seed corpus is in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
tools="$(./scripts/tools-dir.sh)"
fuzz_version=0.13.2
fuzz="$tools/cargo-fuzz-$fuzz_version/bin/cargo-fuzz"
[ -x "$fuzz" ] || cargo install cargo-fuzz --version "$fuzz_version" --locked --root "$tools/cargo-fuzz-$fuzz_version"
# Seeds of the database target: WhatsApp databases our generator writes (Android newer and
# 2021 layouts, iPhone's ChatStorage.sqlite and ContactsV2.sqlite), made once.
if [ -z "$(ls -A fuzz/corpus/whatsapp_db 2>/dev/null)" ]; then
    mkdir -p fuzz/corpus/whatsapp_db
    seeds="$(mktemp -d)"
    cargo run -q --locked -p chatvault-fixtures --bin gen-export -- --kind whatsapp-db --messages 64 --out "$seeds/new"
    cargo run -q --locked -p chatvault-fixtures --bin gen-export -- --kind whatsapp-db-2021 --messages 32 --out "$seeds/old"
    cargo run -q --locked -p chatvault-fixtures --bin gen-export -- --kind whatsapp-ios --messages 80 --out "$seeds/ios"
    cp "$seeds/new/Databases/msgstore.db" fuzz/corpus/whatsapp_db/msgstore-new.db
    cp "$seeds/old/Databases/msgstore.db" fuzz/corpus/whatsapp_db/msgstore-2021.db
    cp "$seeds/ios/ChatStorage.sqlite" "$seeds/ios/ContactsV2.sqlite" fuzz/corpus/whatsapp_db/
    rm -rf "$seeds"
fi
cd fuzz
export RUSTC_BOOTSTRAP=1
for t in whatsapp telegram telegram_html wechat_message whatsapp_crypt iphone_backup whatsapp_db chat_index; do
    mkdir -p "corpus/$t"
    echo "== $t: ${secs}s"
    # Database files are larger than texts: whole pages of tables.
    max_len=65536
    [ "$t" = whatsapp_db ] && max_len=1048576
    if "$fuzz" run --sanitizer none -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=512 >"target/fuzz-$t.log" 2>&1; then
        grep -E "^#[0-9]+ *DONE|^Done" "target/fuzz-$t.log" | tail -2
    else
        failed=1
        grep -E "panicked|ERROR|SUMMARY|Test unit written" -A2 "target/fuzz-$t.log" | head -12
    fi
done
exit "${failed:-0}"
