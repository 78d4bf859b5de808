//! The languages ChatVault speaks to people: English, and Simplified Chinese for the users
//! who read it first. Texts live in Project Fluent files (`locales/<tag>/*.ftl`, compiled
//! in); a text missing in one language falls back to English, so a new text never shows
//! up blank. Which language: the caller says ([`Language::from_locale`] for a phone's
//! locale), or the environment does ([`Language::from_env`], POSIX order).

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// A text's argument: a string or a number (`"x".into()`, `3u64.into()`).
pub use fluent_bundle::FluentValue;

/// A language ChatVault's texts are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Language {
    /// English (the default, and the fallback of every text).
    #[default]
    English,
    /// Simplified Chinese (zh-CN).
    Chinese,
}

impl Language {
    /// Every language, English first.
    pub const ALL: [Language; 2] = [Language::English, Language::Chinese];

    /// The language for a locale as systems name it: POSIX (`zh_CN.UTF-8`), BCP 47
    /// (`zh-Hans-CN`, what Android's `Locale.toLanguageTag()` gives) or Apple's (`zh_CN`,
    /// `zh-Hans`). Any Chinese locale gives Chinese; anything else English.
    pub fn from_locale(locale: &str) -> Language {
        let lang = locale
            .split(['_', '-', '.', '@'])
            .next()
            .unwrap_or_default();
        if lang.eq_ignore_ascii_case("zh") {
            Language::Chinese
        } else {
            Language::English
        }
    }

    /// The user's language from the environment: the first of `LC_ALL`, `LC_MESSAGES` and
    /// `LANG` that is set and not empty (the order POSIX gives them); English without one.
    pub fn from_env() -> Language {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.is_empty())
            .map(|v| Language::from_locale(&v))
            .unwrap_or_default()
    }

    /// The language's BCP 47 tag (`en`, `zh-CN`), as HTML's `lang` attribute takes it.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Chinese => "zh-CN",
        }
    }

    fn index(self) -> usize {
        match self {
            Language::English => 0,
            Language::Chinese => 1,
        }
    }
}

/// One set of translated texts (one Fluent resource per language), parsed on first use.
pub struct Catalog {
    sources: [&'static str; 2],
    bundles: OnceLock<[FluentBundle<FluentResource>; 2]>,
}

impl Catalog {
    /// A catalog of the English and Chinese Fluent sources.
    pub const fn new(english: &'static str, chinese: &'static str) -> Catalog {
        Catalog {
            sources: [english, chinese],
            bundles: OnceLock::new(),
        }
    }

    fn bundles(&self) -> &[FluentBundle<FluentResource>; 2] {
        self.bundles.get_or_init(|| {
            Language::ALL.map(|lang| {
                let tag = lang.tag().parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![tag]);
                // Plain text: no Unicode isolation marks around arguments (terminals and
                // search boxes would show or match them).
                bundle.set_use_isolating(false);
                // A source with errors keeps the messages that parsed (the tests check
                // there are none).
                let resource = FluentResource::try_new(self.sources[lang.index()].to_string())
                    .unwrap_or_else(|(partial, _)| partial);
                let _ = bundle.add_resource(resource);
                bundle
            })
        })
    }

    /// The text `id` in `lang`.
    pub fn text(&self, lang: Language, id: &str) -> String {
        self.format(lang, id, &[])
    }

    /// The text `id` in `lang` with its arguments (`("n", 3.into())`); English when `lang`
    /// lacks it, the id itself when no language has it.
    pub fn format(&self, lang: Language, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (k, v) in args {
            fluent_args.set(*k, v.clone());
        }
        let bundles = self.bundles();
        for bundle in [&bundles[lang.index()], &bundles[0]] {
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, Some(&fluent_args), &mut errors)
                    .into_owned();
            }
        }
        id.to_string()
    }

    /// Problems of the sources: parse errors and, for each translation, the ids English has
    /// and it lacks (or has and English lacks). Empty when all is well (a test asserts it).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut ids: Vec<std::collections::BTreeSet<String>> = Vec::new();
        for lang in Language::ALL {
            match FluentResource::try_new(self.sources[lang.index()].to_string()) {
                Ok(r) => ids.push(
                    r.entries()
                        .filter_map(|e| match e {
                            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                            _ => None,
                        })
                        .collect(),
                ),
                Err((_, errors)) => {
                    out.push(format!("{}: {errors:?}", lang.tag()));
                    ids.push(Default::default());
                }
            }
        }
        for lang in &Language::ALL[1..] {
            let (en, other) = (&ids[0], &ids[lang.index()]);
            for id in en.difference(other) {
                out.push(format!("{}: `{id}` is not translated", lang.tag()));
            }
            for id in other.difference(en) {
                out.push(format!("{}: `{id}` is not in English", lang.tag()));
            }
        }
        out
    }
}

/// A number as a Fluent argument.
pub fn num(n: impl Into<f64>) -> FluentValue<'static> {
    FluentValue::from(n.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_as_systems_name_them() {
        for zh in [
            "zh_CN.UTF-8",
            "zh-Hans-CN",
            "zh_CN",
            "zh-Hans",
            "zh",
            "ZH_tw",
        ] {
            assert_eq!(Language::from_locale(zh), Language::Chinese, "{zh}");
        }
        for en in ["en_US.UTF-8", "C", "POSIX", "", "de-DE", "C.UTF-8", "zha"] {
            assert_eq!(Language::from_locale(en), Language::English, "{en}");
        }
    }

    #[test]
    fn missing_texts_fall_back_to_english_and_problems_are_listed() {
        let c = Catalog::new(
            "a = A\nb = { $n ->\n    [one] one thing\n   *[other] { $n } things\n}\n",
            "a = 甲\n",
        );
        assert_eq!(c.text(Language::Chinese, "a"), "甲");
        assert_eq!(
            c.format(Language::Chinese, "b", &[("n", num(3))]),
            "3 things"
        );
        assert_eq!(
            c.format(Language::English, "b", &[("n", num(1))]),
            "one thing"
        );
        assert_eq!(c.text(Language::English, "nope"), "nope");
        assert_eq!(c.problems(), vec!["zh-CN: `b` is not translated"]);
    }
}
