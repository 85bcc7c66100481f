//! What a download says about its bytes: the media type guessed from the file name, and a
//! `Content-Disposition` that survives any name.

/// Media types by extension (lower case), for the files a notebook team keeps next to its
/// notebooks. Anything else is `application/octet-stream`.
const MEDIA_TYPES: &[(&str, &str)] = &[
    ("csv", "text/csv; charset=utf-8"),
    ("tsv", "text/tab-separated-values; charset=utf-8"),
    ("txt", "text/plain; charset=utf-8"),
    ("log", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("py", "text/x-python; charset=utf-8"),
    ("r", "text/plain; charset=utf-8"),
    ("sh", "text/x-shellscript; charset=utf-8"),
    ("sql", "application/sql"),
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("geojson", "application/geo+json"),
    ("ipynb", "application/x-ipynb+json"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("toml", "application/toml"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("parquet", "application/vnd.apache.parquet"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
];

/// The media type for a file name, from its extension.
pub fn media_type(name: &str) -> &'static str {
    let Some((_, extension)) = name.rsplit_once('.') else { return "application/octet-stream" };
    let extension = extension.to_ascii_lowercase();
    MEDIA_TYPES.iter().find(|(e, _)| *e == extension).map_or("application/octet-stream", |(_, t)| t)
}

/// `attachment; filename="…"; filename*=UTF-8''…` for any name (RFC 6266): the quoted form
/// keeps printable ASCII (others become `_`) for old clients, the encoded form the exact
/// name. Names never hold control characters (see [`super::path`]), but the quoted form
/// would replace them too, so a header can never be split.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(media_type("out.csv"), "text/csv; charset=utf-8");
        assert_eq!(media_type("PLOT.PNG"), "image/png");
        assert_eq!(media_type("archive.tar.gz"), "application/gzip");
        assert_eq!(media_type("Makefile"), "application/octet-stream");
        assert_eq!(media_type("data.unknown"), "application/octet-stream");
        assert_eq!(media_type(".csv"), "text/csv; charset=utf-8");
    }

    #[test]
    fn attachments_quote_plain_names_and_encode_the_rest() {
        assert_eq!(attachment("out.csv"), "attachment; filename=\"out.csv\"; filename*=UTF-8''out.csv");
        assert_eq!(
            attachment("a \"b\"\\c.txt"),
            "attachment; filename=\"a _b__c.txt\"; filename*=UTF-8''a%20%22b%22%5Cc.txt"
        );
        assert_eq!(attachment("é.md"), "attachment; filename=\"_.md\"; filename*=UTF-8''%C3%A9.md");
        let odd = attachment("x\r\ny");
        assert!(!odd.contains('\r') && !odd.contains('\n'), "{odd}");
    }
}
