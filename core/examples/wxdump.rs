fn main() {
    let a: Vec<String> = std::env::args().collect();
    let c = rusqlite::Connection::open(&a[1]).unwrap();
    c.execute_batch("PRAGMA key='82eea35'; PRAGMA cipher_compatibility=1;")
        .unwrap();
    for q in &a[2..] {
        let mut s = c.prepare(q).unwrap();
        let n = s.column_count();
        let mut rows = s.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let v: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".into(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).replace('\n', "\\n")
                    }
                })
                .collect();
            println!("{}", v.join(" | "));
        }
    }
}
