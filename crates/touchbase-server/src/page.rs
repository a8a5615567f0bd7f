//! Paging of the API's lists that grow without bound (rejects, undocumented points, the audit
//! trail, proposals, points): `?limit=N` items per answer (each list has a default and a
//! maximum) and `?cursor=…` to go on. An answer that stops short of the list's end carries
//! `Link: <…&cursor=…>; rel="next"` (RFC 8288) with the same query and the cursor of the next
//! page; the last page carries none. A cursor is opaque: the place after the last item
//! answered, valid however the list changes meanwhile (items are ordered by a key that never
//! changes, and the next page starts after that key).

use axum::Json;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

/// `limit` and `cursor`, the paging parameters of every list that grows without bound.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// How many items to answer: 1 or more, up to the list's maximum (see the list).
    limit: Option<String>,
    /// Where to go on: the `cursor` in the previous answer's `Link: <…>; rel="next"` header.
    cursor: Option<String>,
}

/// A page asked for: how many items, after which key.
#[derive(Debug, Clone)]
pub struct Page<K> {
    pub limit: usize,
    pub after: Option<K>,
}

impl Paging {
    /// The page asked for, with the list's `default` and `max` limits and its keys read from
    /// the cursor by `key`; a 400 naming the parameter otherwise.
    pub fn page<K>(
        &self,
        default: usize,
        max: usize,
        key: impl Fn(&str) -> Option<K>,
    ) -> Result<Page<K>, ApiError> {
        let limit = match self.limit.as_deref() {
            None => default,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "limit: must be a whole number from 1 to {max}, got `{text}`"
                    )));
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None => None,
            Some(cursor) => {
                let bad = || {
                    ApiError::BadRequest(format!(
                        "cursor: `{cursor}` is not a cursor this list gave; take it from the \
                         previous answer's `Link` header, or leave it out to start over"
                    ))
                };
                let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
                let text = String::from_utf8(bytes).map_err(|_| bad())?;
                Some(key(&text).ok_or_else(bad)?)
            }
        };
        Ok(Page { limit, after })
    }
}

/// The cursor of the place after `key`.
pub fn cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// One page of a list's items: the answer, and the cursor of the page after it (if any).
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    /// The request's path and query, for the `Link` to the next page.
    pub uri: Uri,
}

impl<T> Paged<T> {
    /// The page of `items` (all of the list, in any order) that `page` asks for, ordered by
    /// `key` (unique per item).
    pub fn of<K: Ord + ToString>(
        mut items: Vec<T>,
        key: impl Fn(&T) -> K,
        page: Page<K>,
        uri: Uri,
    ) -> Paged<T> {
        items.sort_by_key(|a| key(a));
        let start = match &page.after {
            None => 0,
            Some(after) => items.partition_point(|item| key(item) <= *after),
        };
        let end = start.saturating_add(page.limit).min(items.len());
        let next =
            (end < items.len() && end > start).then(|| cursor(&key(&items[end - 1]).to_string()));
        items.truncate(end);
        items.drain(..start);
        Paged { items, next, uri }
    }

    /// A page read already (`limit` + 1 items asked for, so the last one tells there are
    /// more), ordered by `key`.
    pub fn read<K: ToString>(
        mut items: Vec<T>,
        limit: usize,
        key: impl Fn(&T) -> K,
        uri: Uri,
    ) -> Paged<T> {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| cursor(&key(last).to_string()))
        } else {
            None
        };
        Paged { items, next, uri }
    }

    /// The link to the next page: this request's path and query with its `cursor`.
    fn link(&self) -> Option<HeaderValue> {
        let next = self.next.as_ref()?;
        let mut query: Vec<&str> = self
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
            .collect();
        let cursor = format!("cursor={next}");
        query.push(&cursor);
        let link = format!("<{}?{}>; rel=\"next\"", self.uri.path(), query.join("&"));
        HeaderValue::from_str(&link).ok()
    }
}

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let link = self.link();
        let mut response = Json(self.items).into_response();
        if let Some(link) = link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(limit: Option<&str>, cursor: Option<&str>) -> Paging {
        Paging {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    fn id(text: &str) -> Option<u64> {
        text.parse().ok()
    }

    #[test]
    fn pages_follow_each_other_to_the_end() {
        let items: Vec<u64> = (1..=10).rev().collect();
        let uri: Uri = "/api/x?point=a&limit=4".parse().unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = paging(Some("4"), cursor.as_deref()).page(2, 5, id).unwrap();
            let paged = Paged::of(items.clone(), |i| *i, page, uri.clone());
            seen.extend(paged.items.iter().copied());
            let Some(link) = paged.link() else { break };
            let link = link.to_str().unwrap().to_owned();
            assert!(
                link.starts_with("</api/x?point=a&limit=4&cursor="),
                "{link}"
            );
            cursor = paged.next.clone();
        }
        assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn limits_and_cursors_out_of_rule_are_named() {
        for (limit, cursor, named) in [
            (Some("0"), None, "limit: must be a whole number from 1 to 5"),
            (Some("6"), None, "limit: must be a whole number from 1 to 5"),
            (Some("x"), None, "limit"),
            (None, Some("!!"), "cursor: `!!` is not a cursor"),
            (None, Some(&*cursor("abc")), "cursor"),
        ] {
            let e = paging(limit, cursor).page(2, 5, id).unwrap_err();
            assert!(e.to_string().contains(named), "{e}");
        }
        let page = paging(None, None).page(2, 5, id).unwrap();
        assert_eq!(page.limit, 2);
    }
}
