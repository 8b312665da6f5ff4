//! `POST /api/upload-csv`: invitees from a CSV, all or nothing. [`parse_csv`] reads the file
//! (or names the problem and its line); the store imports the valid rows; [`tally`] reports
//! every row.

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{Enum, Multipart, Object, OpenApi};
use uuid::Uuid;

use super::{InvitationTags, MAX_ROWS};
use crate::auth::AdminAuth;
use crate::error::{ErrorBody, Or500, body, step_failed};
use crate::responses::responses;
use crate::state::AppState;
use crate::validate::{DisplayName, Email};

/// `POST /api/upload-csv`.
#[derive(Debug)]
pub struct UploadApi;

/// The CSV: a header row naming an `email` column, and optionally `name` (or `full_name`, or
/// `first_name` + `last_name`). UTF-8, comma-separated, up to 200,000 rows.
#[derive(Debug, Multipart)]
pub struct CsvUpload {
    pub file: Upload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RowStatus {
    Created,
    Updated,
    Duplicate,
    Invalid,
}

#[derive(Debug, Object)]
pub struct RowResult {
    /// Line in the file (the header is line 1).
    pub line: u32,
    pub email: String,
    pub status: RowStatus,
    /// Why the row is invalid.
    pub reason: Option<String>,
    pub user_id: Option<i64>,
}

#[derive(Debug, Object)]
pub struct UploadReport {
    pub upload_id: Uuid,
    pub rows: u32,
    pub created: u32,
    pub updated: u32,
    pub duplicate: u32,
    pub invalid: u32,
    /// One result per data row, in file order.
    pub results: Vec<RowResult>,
}

responses! {
    pub enum UploadResult {
        200 Ok(Json<UploadReport>),
        /// The file is not a CSV we can read (`invalid_csv`): nothing was imported.
        400 BadRequest(Json<ErrorBody>),
        @auth,
        @body,
    }
}

#[OpenApi(tag = "InvitationTags::Invitations")]
impl UploadApi {
    /// Import invitees from a CSV (multipart field `file`). All or nothing: a file that cannot
    /// be read imports nothing; rows with a bad email are reported `invalid` and skipped.
    #[oai(path = "/upload-csv", method = "post", operation_id = "upload_csv")]
    async fn upload_csv(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        upload: CsvUpload,
    ) -> poem::Result<UploadResult> {
        let bytes = match upload.file.into_vec().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(UploadResult::BadRequest(body(
                    "invalid_csv",
                    format!("cannot read the file: {e}"),
                )));
            }
        };
        let parsed = match parse_csv(&bytes) {
            Ok(p) => p,
            Err(e) => return Ok(UploadResult::BadRequest(body("invalid_csv", e))),
        };
        let upload_id = Uuid::now_v7();
        let valid: Vec<store::invitations::ImportRow> = parsed
            .iter()
            .filter_map(|r| match r {
                Parsed::Valid(row) => Some(row.clone()),
                Parsed::Invalid { .. } => None,
            })
            .collect();
        let outcomes = store::invitations::import(state.db(), upload_id, &valid)
            .await
            .or_500("importing the CSV rows")?;
        let report = tally(upload_id, parsed, outcomes)?;
        state
            .audit(
                &auth.admin().actor,
                "csv_uploaded",
                Some(&format!("upload:{upload_id}")),
                serde_json::json!({
                    "rows": report.rows, "created": report.created, "updated": report.updated,
                    "duplicate": report.duplicate, "invalid": report.invalid,
                }),
            )
            .await?;
        Ok(UploadResult::Ok(Json(report)))
    }
}

/// The report of an upload: every parsed row in file order, the valid ones with what the import
/// did to them (`outcomes`, one per valid row, in order).
fn tally(
    upload_id: Uuid,
    parsed: Vec<Parsed>,
    outcomes: Vec<(store::invitations::RowOutcome, i64)>,
) -> poem::Result<UploadReport> {
    let mut outcomes = outcomes.into_iter();
    let mut report = UploadReport {
        upload_id,
        rows: parsed.len() as u32,
        created: 0,
        updated: 0,
        duplicate: 0,
        invalid: 0,
        results: Vec::with_capacity(parsed.len()),
    };
    for row in parsed {
        let result = match row {
            Parsed::Valid(row) => {
                let (outcome, user_id) = outcomes
                    .next()
                    .ok_or_else(|| step_failed("importing the CSV rows", "fewer rows came back"))?;
                let status = match outcome {
                    store::invitations::RowOutcome::Created => RowStatus::Created,
                    store::invitations::RowOutcome::Updated => RowStatus::Updated,
                    store::invitations::RowOutcome::Duplicate => RowStatus::Duplicate,
                };
                RowResult {
                    line: row.line,
                    email: row.email,
                    status,
                    reason: None,
                    user_id: Some(user_id),
                }
            }
            Parsed::Invalid {
                line,
                email,
                reason,
            } => RowResult {
                line,
                email,
                status: RowStatus::Invalid,
                reason: Some(reason),
                user_id: None,
            },
        };
        match result.status {
            RowStatus::Created => report.created += 1,
            RowStatus::Updated => report.updated += 1,
            RowStatus::Duplicate => report.duplicate += 1,
            RowStatus::Invalid => report.invalid += 1,
        }
        report.results.push(result);
    }
    Ok(report)
}

/// One data row of an upload.
#[derive(Debug, Clone)]
enum Parsed {
    Valid(store::invitations::ImportRow),
    Invalid {
        line: u32,
        email: String,
        reason: String,
    },
}

/// The line of a quote that opens a field and is never closed (csv would read the rest of
/// the file into that field). As csv reads: a quote opens a field only as its first
/// character, `""` inside is one quote, and a quote ends the quoted part.
/// Also the line of a quoted part that runs over lines and is closed by a quote text follows:
/// a stray quote that another quote further down closed.
fn unclosed_quote(text: &str) -> Option<usize> {
    let (mut line, mut field_start, mut open) = (1, true, None::<usize>);
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line += 1;
        }
        if let Some(opened) = open {
            if b == b'"' && bytes.next_if_eq(&b'"').is_none() {
                open = None;
                // A quoted part over several lines, closed by a quote that text follows
                // (`O"Brien`, `"late"`): a stray quote, closed by one meant for something else.
                let ends = matches!(
                    bytes.peek(),
                    None | Some(b',' | b'\n' | b'\r' | b' ' | b'\t')
                );
                if opened < line && !ends {
                    return Some(opened);
                }
            }
            continue;
        }
        match b {
            b'"' if field_start => open = Some(line),
            b',' | b'\n' | b'\r' => {
                field_start = true;
                continue;
            }
            _ => {}
        }
        field_start = false;
    }
    open
}

/// Reads the whole file or fails with a message naming the problem (and its line).
fn parse_csv(bytes: &[u8]) -> Result<Vec<Parsed>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the file is empty; it needs a header row with an `email` column".into());
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (invalid byte at offset {}); save it as CSV UTF-8",
            e.valid_up_to()
        )
    })?;
    if let Some(line) = unclosed_quote(text) {
        return Err(format!(
            "line {line} is not valid CSV: a quoted field starts there and is never closed where \
             it ends (a closing quote is missing, or a stray quote opened it), so the rows after \
             it would be read into that field"
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|h| h.to_lowercase().replace([' ', '-'], "_"))
        .collect::<Vec<_>>();
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let Some(email_col) = column(&["email", "email_address", "e_mail"]) else {
        return Err(format!(
            "the header row has no `email` column (found: {})",
            headers.join(", ")
        ));
    };
    let name_col = column(&["name", "full_name", "fullname"]);
    let first_col = column(&["first_name", "firstname"]);
    let last_col = column(&["last_name", "lastname"]);
    let mut rows = Vec::new();
    let (mut seen_bytes, mut lines_before) = (0usize, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or_default();
            format!("line {line} is not valid CSV: {e}")
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(format!("the file has more than {MAX_ROWS} rows; split it"));
        }
        // csv's own line count skips blank lines; people count them.
        let mut byte = record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(seen_bytes);
        // A record's position includes the blank lines before it.
        while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        lines_before += text
            .get(seen_bytes..byte)
            .map(|t| t.matches('\n').count())
            .unwrap_or_default();
        seen_bytes = byte;
        let line = (lines_before + 1) as u32;
        // An email or a name never holds a line break: a quote closed only lines later (a
        // stray one, and another further down) has joined those lines into this field.
        let used = [Some(email_col), name_col, first_col, last_col];
        if let Some(field) = used
            .into_iter()
            .flatten()
            .filter_map(|c| record.get(c))
            .find(|f| f.contains(['\n', '\r']))
        {
            let last = line as usize + field.matches('\n').count();
            return Err(format!(
                "lines {line} to {last} are not valid CSV: a quoted field runs over them (a \
                 quote is missing its closing quote, or has a stray one), and an email or a \
                 name is one line"
            ));
        }
        let email = record.get(email_col).unwrap_or_default().to_owned();
        let full_name = match (name_col, first_col, last_col) {
            (Some(c), _, _) => record.get(c).map(str::to_owned),
            (None, first, last) => {
                let parts: Vec<&str> = [first, last]
                    .into_iter()
                    .flatten()
                    .filter_map(|c| record.get(c))
                    .filter(|s| !s.is_empty())
                    .collect();
                Some(parts.join(" "))
            }
        }
        .filter(|n| !n.is_empty());
        if email.is_empty() {
            rows.push(Parsed::Invalid {
                line,
                email,
                reason: "no email".into(),
            });
            continue;
        }
        let email = match Email::parse(&email) {
            Ok(canonical) => canonical.into_string(),
            Err(reason) => {
                rows.push(Parsed::Invalid {
                    line,
                    email,
                    reason: reason.to_string(),
                });
                continue;
            }
        };
        let full_name = match full_name.map(|n| DisplayName::parse(&n, 200)) {
            Some(Err(e)) => {
                rows.push(Parsed::Invalid {
                    line,
                    email,
                    reason: format!("name {e}"),
                });
                continue;
            }
            Some(Ok(name)) => Some(name.into_string()),
            None => None,
        };
        rows.push(Parsed::Valid(store::invitations::ImportRow {
            line,
            email,
            full_name,
        }));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(csv: &str) -> Vec<String> {
        parse_csv(csv.as_bytes())
            .expect("parses")
            .into_iter()
            .map(|r| match r {
                Parsed::Valid(r) => {
                    format!("{}:{}:{}", r.line, r.email, r.full_name.unwrap_or_default())
                }
                Parsed::Invalid { line, reason, .. } => format!("{line}:invalid:{reason}"),
            })
            .collect()
    }

    #[test]
    fn reads_names_in_several_shapes() {
        assert_eq!(
            statuses("Email,First Name,Last Name\na@b.co,Ada,Lovelace\n"),
            ["2:a@b.co:Ada Lovelace"]
        );
        assert_eq!(
            statuses("\u{feff}name,email\n\"Zoë, \"\"Z\"\"\",z@b.co\n\n"),
            ["2:z@b.co:Zoë, \"Z\""]
        );
    }

    #[test]
    fn bad_rows_are_reported_not_fatal() {
        let s = statuses("email\nnot-an-email\n\nok@b.co\n");
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with("2:invalid:"));
        assert_eq!(s[1], "4:ok@b.co:");
    }

    #[test]
    fn a_stray_quote_fails_the_file_and_names_its_line() {
        let unclosed =
            parse_csv(b"email,name\nq1@b.co,Ann\nq2@b.co,\"Bob\nq3@b.co,Cy\n").expect_err("fails");
        assert!(
            unclosed.starts_with("line 3 is not valid CSV: a quoted field starts there"),
            "{unclosed}"
        );
        // Closed only two lines further down: the lines between were joined into one name.
        let joined =
            parse_csv(b"email,name\nq1@b.co,\"Ann\nq2@b.co,Bob\nq3@b.co,Cy\"\nq4@b.co,Di\n")
                .expect_err("fails");
        assert!(
            joined.starts_with("lines 2 to 4 are not valid CSV"),
            "{joined}"
        );
        // Quotes as CSV means them still read.
        assert_eq!(
            statuses("email,name\nq@b.co,\"Ann \"\"A\"\"\"\nr@b.co,O\"Brien\n"),
            ["2:q@b.co:Ann \"A\"", "3:r@b.co:O\"Brien"]
        );
        assert_eq!(unclosed_quote("a,\"b\"\"\nc\"\n"), None);
        // A stray quote in a column nobody reads, closed lines later by another's quote.
        assert_eq!(
            unclosed_quote("email,name,notes\na@x.co,Ann,\"VIP\nb@x.co,Bob,\nc@x.co,O\"Brien,\n"),
            Some(2)
        );
        assert_eq!(
            unclosed_quote("e,n,notes\na@x.co,Ann,\"VIP\nb,Bob,\nc,Cy,\"late\"\n"),
            Some(2)
        );
        // A legitimate quoted field over two lines, in a column of its own.
        assert_eq!(
            unclosed_quote("e,n,notes\na@x.co,Ann,\"line one\nline two\"\nb@x.co,B,\n"),
            None
        );
        assert_eq!(unclosed_quote("a,b\n\"c\n"), Some(2));
    }

    #[test]
    fn unreadable_files_fail_whole() {
        assert!(parse_csv(b"").expect_err("fails").contains("empty"));
        assert!(
            parse_csv(b"name\nx\n")
                .expect_err("fails")
                .contains("no `email` column")
        );
        assert!(
            parse_csv(b"email\n\xff\xfe\n")
                .expect_err("fails")
                .contains("UTF-8")
        );
    }
}
