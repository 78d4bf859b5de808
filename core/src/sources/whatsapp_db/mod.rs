//! WhatsApp's own Android database: `msgstore.db`, plain or in its encrypted backups
//! (`Databases/msgstore.db.crypt15` and older generations), with `wa.db` for names.

pub mod crypt;
