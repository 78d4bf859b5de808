# The HTML site and the text export (core/src/export). English is the fallback of every text.

chats = Chats
chats-title = Chats · { $account }
page-title = { $name } · page { $page } of { $pages }
all-chats = ‹ All chats
chat-meta = { $kind } · { $count ->
    [one] 1 message
   *[other] { $count } messages
} · { $app }
index-meta = { $app } · { $account } · { $chats ->
    [one] 1 conversation
   *[other] { $chats } conversations
} · { $messages ->
    [one] 1 message
   *[other] { $messages } messages
} · snapshot { $snapshot } of { $time }
search-chat = Search this chat
search-all = Search all chats
oldest = « Oldest
older = ‹ Older
newer = Newer ›
newest = Newest »
page-of = Page { $page } of { $pages }
footer-page = Exported by ChatVault from snapshot { $snapshot } ({ $time }) of { $account }.
footer-index = Exported by ChatVault. Opens without a network; nothing here is sent anywhere.
media-missing = { $count } media missing
edited = edited
gone-since = no longer on the phone since { $since }
cannot-play = Browsers cannot play this format; open it with a player that can
voice-download = Voice message ({ $format }, download)
not-in-export = { $what } not in the export (never downloaded or cleaned up)
weekday = { $day ->
    [1] Monday
    [2] Tuesday
    [3] Wednesday
    [4] Thursday
    [5] Friday
    [6] Saturday
   *[7] Sunday
}

# What a media file is, as a label.
kind-voice = Voice message
kind-image = Image
kind-video = Video
kind-sticker = Sticker
kind-file = File

# A message without text, as a line in search results and the text export.
placeholder-image = [image]
placeholder-video = [video]
placeholder-voice = [voice message]
placeholder-sticker = [sticker]
placeholder-file = [file]
placeholder-location = [location]
placeholder-call = [call]

# Conversation kinds.
conversation-direct = direct
conversation-group = group
conversation-channel = channel
conversation-saved = saved

# The search box's script (assets/app.js): %n stands for a number.
js-searching = Searching…
js-none = No messages found
js-found-one = 1 message found
js-found-many = %n messages found
js-first-shown = (first %n shown)
