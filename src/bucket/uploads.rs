//! Multipart uploads left behind by a writer that died (kill -9, a lost node): listed with S3's
//! `ListMultipartUploads` (which `object_store` does not offer, so the request is signed here
//! through `signed`) and aborted when no live writer holds the file's lease.

use std::io;

use object_store::multipart::MultipartStore;
use object_store::path::Path as Key;
use serde::Deserialize;

use super::Bucket;
use super::signed::encode_query;

/// One multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingUpload {
    pub(crate) key: String,
    pub(crate) upload_id: String,
}

impl Bucket {
    /// The multipart uploads in progress under `prefix` (a full key prefix).
    pub(crate) fn pending_uploads(&self, prefix: &str) -> io::Result<Vec<PendingUpload>> {
        let inner = &self.inner;
        let base = self.bucket_url();
        let mut found = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = vec![
                ("uploads".to_owned(), String::new()),
                ("prefix".to_owned(), prefix.to_owned()),
            ];
            if let Some((key, id)) = &marker {
                query.push(("key-marker".to_owned(), key.clone()));
                query.push(("upload-id-marker".to_owned(), id.clone()));
            }
            let url = format!("{base}?{}", encode_query(&query));
            let body = self.signed(http::Method::GET, url);
            let body = body.map_err(|e| {
                io::Error::other(format!(
                    "failed to list the multipart uploads under `{prefix}` in bucket `{}` at \
                     {}: {e}",
                    inner.url.bucket,
                    inner.config.endpoint_label()
                ))
            })?;
            let page = parse_page(&body).map_err(|e| {
                io::Error::other(format!(
                    "unreadable multipart upload listing from {}: {e}",
                    inner.config.endpoint_label()
                ))
            })?;
            found.extend(page.uploads);
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// Aborts one multipart upload.
    pub(crate) fn abort_upload(&self, upload: &PendingUpload) -> io::Result<()> {
        let store = self.inner.store.clone();
        let key = Key::from(upload.key.as_str());
        let id = upload.upload_id.clone();
        self.block(async move { store.abort_multipart(&key, &id).await })
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(e),
            })
            .map_err(|e| self.error("abort the upload of", &Key::from(upload.key.as_str()), e))
    }
}

struct Page {
    uploads: Vec<PendingUpload>,
    /// `(NextKeyMarker, NextUploadIdMarker)` when the listing is truncated.
    next: Option<(String, String)>,
}

/// The parts of a `ListMultipartUploadsResult` document used here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<UploadEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadEntry {
    key: String,
    upload_id: String,
}

fn parse_page(xml: &str) -> Result<Page, String> {
    let result: ListResult = quick_xml::de::from_str(xml).map_err(|e| e.to_string())?;
    let next = match (
        result.is_truncated,
        result.next_key_marker,
        result.next_upload_id_marker,
    ) {
        (true, Some(key), Some(id)) => Some((key, id)),
        _ => None,
    };
    let uploads = result
        .uploads
        .into_iter()
        .map(|u| PendingUpload {
            key: u.key,
            upload_id: u.upload_id,
        })
        .collect();
    Ok(Page { uploads, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_uploads_listing() {
        let xml = "<?xml version=\"1.0\"?><ListMultipartUploadsResult><Bucket>b</Bucket>\
                   <IsTruncated>true</IsTruncated><NextKeyMarker>p/a&amp;b</NextKeyMarker>\
                   <NextUploadIdMarker>id2</NextUploadIdMarker>\
                   <Upload><Key>p/x.bin</Key><UploadId>id1</UploadId></Upload>\
                   <Upload><Key>p/a&amp;b</Key><UploadId>id2</UploadId></Upload>\
                   </ListMultipartUploadsResult>";
        let page = parse_page(xml).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[1].key, "p/a&b");
        assert_eq!(page.next, Some(("p/a&b".into(), "id2".into())));
        let done = parse_page(
            "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert!(done.uploads.is_empty() && done.next.is_none());
    }
}
