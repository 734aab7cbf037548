//! S3 requests `object_store` does not offer (a listing of the bucket itself, so a missing
//! bucket is told apart; ListMultipartUploads), sent with the
//! run's HTTP client and signed with `object_store`'s SigV4 signer.

use object_store::aws::{AwsAuthorizer, AwsCredential};

use super::Bucket;

impl Bucket {
    /// `https://endpoint/bucket` (path style), or AWS's regional endpoint.
    pub(super) fn bucket_url(&self) -> String {
        let inner = &self.inner;
        match &inner.config.endpoint {
            Some(e) => format!("{}/{}", e.trim_end_matches('/'), inner.url.bucket),
            None => format!(
                "https://s3.{}.amazonaws.com/{}",
                inner.config.region, inner.url.bucket
            ),
        }
    }

    /// Sends a signed request without a body; the response's body, or an error with the
    /// status and the service's words.
    pub(super) fn signed(&self, method: http::Method, url: String) -> Result<String, String> {
        let config = &self.inner.config;
        let credential = match (&config.access_key_id, &config.secret_access_key) {
            (Some(id), Some(secret)) => Some(AwsCredential {
                key_id: id.clone(),
                secret_key: secret.clone(),
                token: config.session_token.clone(),
            }),
            _ => None,
        };
        let (http, region) = (self.inner.http.clone(), config.region.clone());
        self.block(async move { send(&http, method, &url, credential, &region).await })
    }
}

async fn send(
    http: &reqwest::Client,
    method: http::Method,
    url: &str,
    credential: Option<AwsCredential>,
    region: &str,
) -> Result<String, String> {
    let mut request = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .body(object_store::client::HttpRequestBody::empty())
        .map_err(|e| e.to_string())?;
    if let Some(credential) = &credential {
        AwsAuthorizer::new(credential, "s3", region).authorize(&mut request, None);
    }
    let mut outgoing = http.request(method, url);
    for (name, value) in request.headers() {
        outgoing = outgoing.header(name, value);
    }
    let response = outgoing.send().await.map_err(|e| chain(&e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let words = text.trim();
        return Err(match words {
            "" => status.to_string(),
            _ => format!("{status}: {words}"),
        });
    }
    Ok(text)
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `k=v&…`, percent-encoded as SigV4 canonicalises it.
pub(super) fn encode_query(pairs: &[(String, String)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, SET),
                utf8_percent_encode(v, SET)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries_for_signing() {
        let q = encode_query(&[
            ("uploads".into(), String::new()),
            ("prefix".into(), "a b/c".into()),
        ]);
        assert_eq!(q, "uploads=&prefix=a%20b%2Fc");
    }
}
