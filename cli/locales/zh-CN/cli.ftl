# 命令行自己的文字（cli/src）。缺少的文字以英文显示；引擎给出的错误细节保持英文。

error = 错误：{ $text }
warning = 警告：{ $text }
note = 提示：{ $text }
more-notes = 提示：……还有 { $count } 条（全部见 --json 的 "notices"）

error-no-repository = { $path } 没有备份仓库：用 `chatvault init` 创建一个，或用 --repo 指定另一个
error-wrong-password = 备份仓库的密码不正确（恢复密钥也可以打开它）
error-wrong-key = 聊天数据库的密钥或备份的密码不正确或缺失：{ $detail }
error-cancelled = 已取消：没有做任何更改；下次运行会接着进行

created-repository = 已在 { $path } 创建备份仓库 { $id }
created-default-repository = 已在 { $path } 创建默认备份仓库
recovery-key = 恢复密钥（只显示这一次；请抄下来妥善保管；忘记密码时可用它打开此仓库）：
repository = 备份仓库：{ $path }
snapshot-saved = 快照 { $id } 已保存：{ $files } 个文件，{ $size }（读取 { $read } 个）；新增 { $added }（存储 { $stored }），用时 { $seconds } 秒
snapshots-id = 编号
snapshots-time = 时间（本地）
snapshots-host = 主机
snapshots-files = 文件数
snapshots-size = 大小
snapshots-paths = 路径
snapshots-count = 共 { $count } 个快照

separator = ；
chat-summary = { $app }：{ $conversations } 个会话，{ $messages } 条消息（{ $first } 至 { $last }）
chat-media-missing = 导出中缺少 { $count } 个媒体文件（未下载或已被清理）
chat-unparsed = { $count } 行无法识别，已原样保留（类型 "unparsed"）
chat-key-from = 数据库密钥来自 { $how }
chat-archived = { $count } 条消息已不在手机上，从以前的备份中保留
chats-header-id = ID
chats-header-name = 名称
chats-header-kind = 类型
chats-header-messages = 消息数
chats-header-archived = 已归档
chats-header-first = 最早
chats-header-last = 最新
search-found = 找到 { $count } 条消息
search-system = 系统
search-gone = [自 { $since } 起已不在手机上]
purge-snapshot = { $time }  { $old } → { $new }  已从其归档中删除 { $messages } 条消息、{ $media } 个媒体文件
purge-done = 已从 { $snapshots } 个快照中清除 { $chat } 的 { $messages } 条归档消息和 { $media } 个媒体文件
purge-would = 将从 { $snapshots } 个快照中清除 { $chat } 的 { $messages } 条归档消息和 { $media } 个媒体文件（--dry-run：未做任何更改）
purge-nothing = 归档中没有 { $chat } 的相符消息：未做任何更改
purge-held = 仍有 { $snapshots } 个快照在备份的导出本身中保存了其中最多 { $messages } 条消息（当时或现在仍在手机上）；清除不会修改导出：删除（forget）这些快照即可移除它们（{ $ids }）
purge-prune = 运行 `chatvault prune` 以从仓库中删除它们的数据
restored-conversation = 已将快照 { $id } 的会话 { $chat } 恢复到 { $target }：{ $files } 个文件，{ $size }
exported = 已将快照 { $id } 的 { $conversations } 个会话、{ $messages } 条消息和 { $media } 个媒体文件导出到 { $out }
exported-missing = （备份时导出中缺少 { $count } 个媒体文件）
open-in-browser = 用浏览器打开 { $path }

restored = 已将快照 { $id } 恢复到 { $target }：{ $files } 个文件，{ $dirs } 个文件夹，{ $size }
checked = 已检查 { $snapshots } 个快照、{ $trees } 个目录树、{ $blobs } 个数据块、{ $packs } 个数据包{ $read }：{ $verdict }
checked-read = ，回读 { $packs } 个数据包（{ $size }）
check-ok = 没有发现错误
check-errors = 发现 { $count } 个错误
