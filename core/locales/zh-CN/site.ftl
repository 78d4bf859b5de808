# HTML 网站与文本导出（core/src/export）。缺少的文字以英文显示。

chats = 聊天
chats-title = 聊天 · { $account }
page-title = { $name } · 第 { $page } 页，共 { $pages } 页
all-chats = ‹ 全部聊天
chat-meta = { $kind } · { $count } 条消息 · { $app }
index-meta = { $app } · { $account } · { $chats } 个会话 · { $messages } 条消息 · 快照 { $snapshot }（{ $time }）
search-chat = 搜索此聊天
search-all = 搜索全部聊天
oldest = « 最早
older = ‹ 较早
newer = 较新 ›
newest = 最新 »
page-of = 第 { $page } 页，共 { $pages } 页
footer-page = 由 ChatVault 导出，来自 { $account } 的快照 { $snapshot }（{ $time }）。
footer-index = 由 ChatVault 导出。无需联网即可打开；这里的内容不会发送到任何地方。
media-missing = 缺少 { $count } 个媒体文件
edited = 已编辑
gone-since = 自 { $since } 起已不在手机上
cannot-play = 浏览器无法播放此格式，请用支持它的播放器打开
voice-download = 语音消息（{ $format }，下载）
not-in-export = { $what }不在导出中（未下载或已被清理）
weekday = { $day ->
    [1] 星期一
    [2] 星期二
    [3] 星期三
    [4] 星期四
    [5] 星期五
    [6] 星期六
   *[7] 星期日
}

kind-voice = 语音消息
kind-image = 图片
kind-video = 视频
kind-sticker = 表情
kind-file = 文件

placeholder-image = [图片]
placeholder-video = [视频]
placeholder-voice = [语音]
placeholder-sticker = [表情]
placeholder-file = [文件]
placeholder-location = [位置]
placeholder-call = [通话]

conversation-direct = 单聊
conversation-group = 群聊
conversation-channel = 公众号/频道
conversation-saved = 收藏/备忘

js-searching = 正在搜索…
js-none = 没有找到消息
js-found-one = 找到 1 条消息
js-found-many = 找到 %n 条消息
js-first-shown = （显示前 %n 条）
