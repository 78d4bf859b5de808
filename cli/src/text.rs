//! The command line's texts in the user's language: Chinese when the locale (`LC_ALL`,
//! `LC_MESSAGES`, `LANG`) is Chinese, English otherwise (cli/locales/*/cli.ftl). Errors
//! from the engine keep their English details behind a translated lead.

use std::sync::OnceLock;

use chatvault_core::i18n::{Catalog, FluentValue};
use chatvault_core::{Error, Language};

static TEXTS: Catalog = Catalog::new(
    include_str!("../locales/en/cli.ftl"),
    include_str!("../locales/zh-CN/cli.ftl"),
);

/// The language of this run (read once from the environment).
pub fn language() -> Language {
    static LANGUAGE: OnceLock<Language> = OnceLock::new();
    *LANGUAGE.get_or_init(Language::from_env)
}

/// The text `id`.
pub fn t(id: &str) -> String {
    TEXTS.text(language(), id)
}

/// The text `id` with its arguments.
pub fn tf(id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    TEXTS.format(language(), id, args)
}

/// A line with a prefix (`error`, `warning`, `note`): `error: TEXT` / `错误：TEXT`.
pub fn prefixed(kind: &str, text: &str) -> String {
    tf(kind, &[("text", text.into())])
}

/// The error line for `e` (its causes in `detail`): in English as the engine words it; in
/// another language, the errors people meet first are said in it, the rest keep the
/// engine's words behind a translated prefix.
pub fn error_line(e: &anyhow::Error, detail: &str) -> String {
    if language() == Language::English {
        return prefixed("error", detail);
    }
    let text = match e.downcast_ref::<Error>() {
        Some(Error::RepositoryNotFound { location }) => {
            tf("error-no-repository", &[("path", location.as_str().into())])
        }
        Some(Error::WrongPassword) => t("error-wrong-password"),
        Some(Error::WrongKey { .. } | Error::WrongBackupPassword { .. }) => {
            tf("error-wrong-key", &[("detail", detail.into())])
        }
        Some(Error::Cancelled) => t("error-cancelled"),
        _ => detail.to_string(),
    };
    prefixed("error", &text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_text_is_in_every_language() {
        assert_eq!(super::TEXTS.problems(), Vec::<String>::new());
    }
}
