//! What a finished WhatsApp message is: an attachment (present or not), a placeholder for
//! media left out of the export, a deleted or edited message, a location, a poll, a contact
//! card. Phrases come from every language's table at once ([`super::lang`]); file names
//! WhatsApp gives attachments are recognised whatever the language around them.

use super::header::is_mark;
use super::lang::{self, Phrase};
use crate::sources::model::{MediaKind, MediaRef, Message, MessageKind, Place, Poll, PollAnswer};

/// The coordinates of a shared place's maps link (`…maps.google.com/?q=52.52,13.405`,
/// `…maps.apple.com/?ll=…` or `&q=…`, the comma possibly as `%2C`).
fn place_of(line: &str) -> Option<Place> {
    let at = ["?q=", "&q=", "?ll=", "&ll="]
        .iter()
        .find_map(|k| line.find(k).map(|i| i + k.len()))?;
    let rest = line[at..].replace("%2C", ",").replace("%2c", ",");
    let mut parts = rest.splitn(2, ',');
    let num = |s: &str| -> Option<f64> {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
            .unwrap_or(s.len());
        s[..end].parse().ok()
    };
    let lat = num(parts.next()?)?;
    let lon = num(parts.next()?.trim_start())?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then(|| Place {
        latitude: Some(lat),
        longitude: Some(lon),
        ..Default::default()
    })
}

/// A poll as the export writes it: the keyword line, the question, then one line per
/// option, `<word>: <option> (<n> <votes>)` in the export's language.
fn poll_of(text: &str) -> Option<Poll> {
    let mut lines = text.lines().skip(1);
    let question = lines.next()?.trim().to_string();
    let answers = lines
        .filter_map(|l| {
            let l = l.trim();
            let (_, rest) = l.split_once(':').filter(|(k, _)| k.chars().count() <= 24)?;
            let open = rest.rfind('(')?;
            let inside = rest[open + 1..].strip_suffix(')')?;
            let votes: u64 = inside
                .split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())?
                .parse()
                .ok()?;
            Some(PollAnswer {
                text: rest[..open].trim().to_string(),
                voters: Some(votes),
            })
        })
        .collect();
    Some(Poll {
        question,
        answers,
        closed: false,
    })
}

/// Whether a line's text (after the author) is an attachment or a media placeholder: such
/// lines keep their author even where iOS puts a direction mark before them.
pub(super) fn is_media_line(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    let t = first.trim_matches(is_mark).trim();
    lang::attached_name(t).is_some()
        || lang::strip_file_attached(t).is_some()
        || lang::whole_phrase(t).is_some()
        || lang::document_omitted_name(t).is_some()
        || whatsapp_file_name(t)
}

/// Whether `name` is a name WhatsApp gives media: IMG-20220323-WA0002.jpg, PTT-…-WA0001.opus,
/// 00000042-PHOTO-2020-06-07-15-13-20.jpg.
fn whatsapp_file_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let android = ["IMG-", "VID-", "AUD-", "PTT-", "STK-", "DOC-"]
        .iter()
        .any(|p| upper.starts_with(p))
        && upper.contains("-WA")
        && upper.contains('.');
    let ios = upper.len() > 9
        && upper.as_bytes()[..8].iter().all(u8::is_ascii_digit)
        && upper.as_bytes()[8] == b'-'
        && upper.contains('.');
    android || ios
}

fn media_kind_of(name: &str) -> (MediaKind, MessageKind) {
    let upper = name.to_uppercase();
    let has = |p: &str| upper.starts_with(p) || upper.contains(&format!("-{p}"));
    let ext = upper.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if has("PHOTO") || has("IMG-") {
        (MediaKind::Image, MessageKind::Image)
    } else if has("VIDEO") || has("VID-") || has("GIF") {
        (MediaKind::Video, MessageKind::Video)
    } else if has("AUDIO") || has("PTT-") || has("AUD-") {
        (MediaKind::Audio, MessageKind::Voice)
    } else if has("STICKER") || has("STK-") {
        (MediaKind::Sticker, MessageKind::Sticker)
    } else if ext == "VCF" {
        (MediaKind::File, MessageKind::ContactCard)
    } else if matches!(ext, "JPG" | "JPEG" | "PNG" | "HEIC" | "WEBP") {
        (MediaKind::Image, MessageKind::Image)
    } else if matches!(ext, "MP4" | "MOV" | "3GP") {
        (MediaKind::Video, MessageKind::Video)
    } else if matches!(ext, "OPUS" | "M4A" | "AAC" | "MP3" | "OGG" | "AMR") {
        (MediaKind::Audio, MessageKind::Voice)
    } else {
        (MediaKind::File, MessageKind::File)
    }
}

fn missing(kind: MediaKind) -> Option<MediaRef> {
    Some(MediaRef {
        path: String::new(),
        kind,
        present: false,
        thumbnail: None,
    })
}

/// Classifies a finished message: attachments, omitted media, deletions, edits, locations.
pub(super) fn finish(msg: &mut Message, locate: &dyn Fn(&str) -> (String, bool)) {
    if msg.kind == MessageKind::System || msg.kind == MessageKind::Unparsed {
        return;
    }
    if let Some(t) = lang::strip_edited(&msg.text) {
        msg.text = t.to_string();
        msg.edited = true;
    }
    let first_line_end = msg.text.find('\n').unwrap_or(msg.text.len());
    let text = std::mem::take(&mut msg.text);
    let (first, caption) = text.split_at(first_line_end);
    let first = first.trim_matches(is_mark).trim();
    let caption = caption.trim_start_matches('\n').to_string();

    // A whole phrase first: "<Uten vedlegg>" (Norwegian "media omitted") must not be read
    // as an attachment named "Uten".
    let phrase = lang::whole_phrase(first);
    // iOS: [description • pages] <attached: NAME>
    if let Some(name) = lang::attached_name(first).filter(|_| phrase.is_none()) {
        attach(msg, name.trim_matches(is_mark), locate, caption);
        return;
    }
    // Android: NAME (file attached)
    if let Some(name) = lang::strip_file_attached(first).filter(|_| phrase.is_none()) {
        attach(msg, name.trim_matches(is_mark), locate, caption);
        return;
    }
    let omitted = match phrase {
        Some(p) => p,
        None if lang::document_omitted_name(first).is_some() => {
            // "Doc.pdf • 2 pages document omitted": the line names the document.
            msg.kind = MessageKind::File;
            msg.media = missing(MediaKind::File);
            msg.text = first.chars().filter(|&c| !is_mark(c)).collect();
            if !caption.is_empty() {
                msg.text.push('\n');
                msg.text.push_str(&caption);
            }
            return;
        }
        None => {
            msg.text = text.clone();
            if lang::is_location(first) {
                msg.kind = MessageKind::Location;
                msg.details.place = place_of(first);
            } else if lang::is_poll(first) {
                msg.kind = MessageKind::Poll;
                msg.details.poll = poll_of(&text);
            }
            return;
        }
    };
    let (kind, media) = match omitted {
        Phrase::MediaOmitted => (MessageKind::File, missing(MediaKind::File)),
        Phrase::ImageOmitted => (MessageKind::Image, missing(MediaKind::Image)),
        Phrase::VideoOmitted | Phrase::GifOmitted => {
            (MessageKind::Video, missing(MediaKind::Video))
        }
        Phrase::AudioOmitted => (MessageKind::Voice, missing(MediaKind::Audio)),
        Phrase::StickerOmitted => (MessageKind::Sticker, missing(MediaKind::Sticker)),
        Phrase::DocumentOmitted => (MessageKind::File, missing(MediaKind::File)),
        Phrase::ContactOmitted => (MessageKind::ContactCard, None),
        Phrase::Deleted => (MessageKind::Revoke, None),
        Phrase::DeletedByMe => {
            msg.from_me = true;
            (MessageKind::Revoke, None)
        }
        Phrase::ViewOnce => {
            msg.details.view_once = true;
            (MessageKind::Image, missing(MediaKind::Image))
        }
        Phrase::LiveLocation => (MessageKind::Location, None),
    };
    // A placeholder for media left out says nothing of its own: the text is the caption.
    // Other phrases ("This message was deleted") stay as the export wrote them, in its
    // language.
    msg.text = if media.is_some() {
        caption
    } else {
        first.to_string()
    };
    msg.kind = kind;
    msg.media = media;
}

fn attach(msg: &mut Message, name: &str, locate: &dyn Fn(&str) -> (String, bool), caption: String) {
    let (mk, k) = media_kind_of(name);
    // A name that is not one plain file name never becomes a path.
    let (path, present) = if safe(name) {
        locate(name)
    } else {
        (String::new(), false)
    };
    msg.kind = k;
    msg.text = if caption.is_empty() && matches!(k, MessageKind::File | MessageKind::ContactCard) {
        name.to_string()
    } else {
        caption
    };
    msg.media = Some(MediaRef {
        path,
        kind: mk,
        present,
        thumbnail: None,
    });
}

/// Whether `name` is one plain file name (never a path out of the export).
pub(super) fn safe(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != ".." && name != "."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_polls_from_their_lines() {
        let p = place_of("location: https://maps.google.com/?q=52.52,13.405").unwrap();
        assert_eq!((p.latitude, p.longitude), (Some(52.52), Some(13.405)));
        let p = place_of("Standort: https://maps.google.com/?q=-33.8%2C151.2").unwrap();
        assert_eq!((p.latitude, p.longitude), (Some(-33.8), Some(151.2)));
        assert!(place_of("https://maps.google.com/?q=Berlin").is_none());
        let poll =
            poll_of("UMFRAGE:\nWohin?\nOPTION: Pizza (2 Stimmen)\nOPTION: Dim Sum 点心 (1 Stimme)")
                .unwrap();
        assert_eq!(poll.question, "Wohin?");
        assert_eq!(poll.answers.len(), 2);
        assert_eq!(poll.answers[1].text, "Dim Sum 点心");
        assert_eq!(poll.answers[0].voters, Some(2));
    }
}
