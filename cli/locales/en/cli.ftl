# The command line's own texts (cli/src). English is the fallback of every text; errors from
# the engine keep their English details.

error = error: { $text }
warning = warning: { $text }
note = note: { $text }
more-notes = note: … and { $count } more (all in --json's "notices")

# Errors people meet first, said plainly in other languages (English shows the engine's own
# words, which say the same).
error-no-repository = no repository at { $path }: create one with `chatvault init`, or name another with --repo
error-wrong-password = wrong password for this repository (the recovery key opens it too)
error-wrong-key = the chat database's key or the backup's password is wrong or missing: { $detail }
error-cancelled = cancelled: nothing was changed; the next run resumes

created-repository = created repository { $id } at { $path }
created-default-repository = created the default repository at { $path }
recovery-key = Recovery key (shown only now; write it down and keep it safe; it opens this repository if the password is lost):
repository = repository: { $path }
snapshot-saved = snapshot { $id } saved: { $files } files, { $size } ({ $read } read); added { $added } ({ $stored } stored) in { $seconds }s
snapshots-id = id
snapshots-time = time (local)
snapshots-host = host
snapshots-files = files
snapshots-size = size
snapshots-paths = paths
snapshots-count = { $count } snapshot(s)

# Between the parts of one line.
separator = {"; "}
chat-summary = { $app }: { $conversations } conversations, { $messages } messages ({ $first } to { $last })
chat-media-missing = { $count } media files missing from the export (never downloaded or cleaned up)
chat-unparsed = { $count } lines not understood, kept as they were (kind "unparsed")
chat-key-from = database key from { $how }
chat-archived = { $count } messages no longer on the phone, kept from earlier backups
chats-header-id = ID
chats-header-name = NAME
chats-header-kind = KIND
chats-header-messages = MESSAGES
chats-header-archived = ARCHIVED
chats-header-first = FIRST
chats-header-last = LAST
search-found = { $count } messages found
search-system = system
search-gone = [no longer on the phone since { $since }]
purge-snapshot = { $time }  { $old } → { $new }  { $messages } messages, { $media } media files removed from its archive
purge-done = purged { $messages } archived messages and { $media } media files of { $chat } from { $snapshots } snapshots
purge-would = would purge { $messages } archived messages and { $media } media files of { $chat } from { $snapshots } snapshots (nothing changed: --dry-run)
purge-nothing = the archive holds no messages of { $chat } that match: nothing changed
purge-held = { $snapshots } snapshots still hold up to { $messages } of these messages in the backed-up export itself (the phone had them then, or still has them); purge does not change an export: forget those snapshots to remove them ({ $ids })
purge-prune = run `chatvault prune` to delete their data from the repository
restored-conversation = restored conversation { $chat } of snapshot { $id } to { $target }: { $files } files, { $size }
exported = exported { $conversations } conversations, { $messages } messages and { $media } media files of snapshot { $id } to { $out }
exported-missing = ({ $count } media files were not in the export when it was backed up)
open-in-browser = open { $path }

restored = restored snapshot { $id } to { $target }: { $files } files, { $dirs } dirs, { $size }
checked = checked { $snapshots } snapshots, { $trees } trees, { $blobs } blobs, { $packs } packs{ $read }: { $verdict }
checked-read = , read back { $packs } packs ({ $size })
check-ok = no errors found
check-errors = { $count } error(s) found
