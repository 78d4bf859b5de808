#![no_main]
//! WeChat message content (XML, group sender prefix) with any type: never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let ty = i64::from_le_bytes(data[..8].try_into().unwrap());
    let content = String::from_utf8_lossy(&data[8..]);
    let _ = chatvault_core::sources::wechat::message::describe(ty, &content);
    let _ = chatvault_core::sources::wechat::message::describe(49, &content);
    let _ = chatvault_core::sources::wechat::message::describe(10002, &content);
});
