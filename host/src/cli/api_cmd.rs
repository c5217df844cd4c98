//! `ghmesh api`: a `gh api`-like client that sends one GitHub REST (or GraphQL) call through the
//! same cache as every other client: a running `ghmesh serve` when one is named or discovered,
//! else the proxy built in this process over the store ([`super::api_transport`]).

use super::api_transport::Transport;
use super::proxy_setup::UpstreamArgs;
use super::serve_client::ServeTarget;
use crate::config::Config;
use anyhow::Context;
use clap::Args;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Map, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// A whole call, including a cache miss that goes to GitHub.
const TIMEOUT: Duration = Duration::from_secs(120);
/// gh's default media type.
const DEFAULT_ACCEPT: &str = "application/vnd.github+json";

/// Options of `ghmesh api`.
#[derive(Debug, Args)]
#[command(after_help = "\
Where the call goes: --url / GHMESH_URL names a running `ghmesh serve`; without it, the serve \
recorded in the cache directory's serve.json is used if it answers; otherwise the call is \
answered in-process from the store in the cache directory (GitHub is asked on a miss, at \
--upstream). The token comes from GH_TOKEN or GITHUB_TOKEN unless an Authorization header is \
given; it is never printed.

With --paginate, JSON array pages are merged into one array (gh prints page after page); pages \
that are not arrays are printed one after another. With -i, each page's status line and headers \
come first, then the body.

Examples:
  ghmesh api repos/cli/cli
  ghmesh api --paginate 'repos/cli/cli/issues?per_page=100'
  ghmesh api -i repos/cli/cli            # shows x-cache / cache-status
  ghmesh api -X POST repos/o/r/issues -f title=Bug -F draft=false
  ghmesh api graphql -f query='{ viewer { login } }'")]
pub struct ApiArgs {
    /// API path, e.g. `repos/OWNER/REPO` or `/repos/OWNER/REPO?per_page=100` (leading slash optional).
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Which serve to use, if any.
    #[command(flatten)]
    pub serve: ServeTarget,
    /// GitHub, when answering in-process.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// HTTP method [default: GET, or POST when fields or --input are given].
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// String parameter `key=value` (repeatable): query parameter for GET, else JSON body field.
    #[arg(short = 'f', long = "raw-field", value_name = "KEY=VALUE")]
    pub raw_fields: Vec<String>,
    /// Typed parameter `key=value`: true/false/null/integers become JSON values, `@FILE` reads a
    /// file (`@-`: stdin).
    #[arg(short = 'F', long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// Request body from FILE (`-`: stdin); fields then go to the query string.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Follow `link: rel="next"` and print all pages (JSON arrays merged into one array).
    #[arg(long)]
    pub paginate: bool,
    /// Print the status line and response headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
}

/// Sends the call (and its next pages) and prints the answer.
pub fn run(args: ApiArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let token = ["GH_TOKEN", "GITHUB_TOKEN"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|t| !t.is_empty()));
    // Arguments first: a mistake is reported before any serve is probed or store opened.
    let request = Request::build(&args, token.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stdout = std::io::stdout().lock();
    let pretty = std::io::stdout().is_terminal();
    runtime.block_on(async {
        let transport = Transport::choose(&args.serve, config, &args.upstream, TIMEOUT).await?;
        let sent = request.send(&transport, &args, pretty, &mut stdout).await;
        transport.finish().await?;
        sent
    })
}

/// A prepared call: method, target (path and query, relative to the proxy's base), headers and
/// body.
struct Request {
    method: reqwest::Method,
    target: String,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Request {
    fn build(args: &ApiArgs, token: Option<&str>) -> anyhow::Result<Self> {
        args.serve.parse()?;
        let mut fields = Vec::new();
        for raw in &args.raw_fields {
            fields.push(parse_field(raw, false)?);
        }
        for typed in &args.fields {
            fields.push(parse_field(typed, true)?);
        }
        let input = args.input.as_deref().map(read_input).transpose()?;
        let method_name = args.method.clone().unwrap_or_else(|| {
            if fields.is_empty() && input.is_none() {
                "GET".to_string()
            } else {
                "POST".to_string()
            }
        });
        let method = reqwest::Method::from_bytes(method_name.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("invalid method `{method_name}`"))?;
        if args.paginate && method != reqwest::Method::GET {
            anyhow::bail!("--paginate works only with GET requests");
        }
        let mut target = format!("/{}", args.path.trim_start_matches('/'));
        let fields_in_query = method == reqwest::Method::GET || input.is_some();
        let body = if fields_in_query {
            if !fields.is_empty() {
                let mut query = url::form_urlencoded::Serializer::new(String::new());
                for (key, value) in &fields {
                    query.append_pair(key, &query_value(value));
                }
                if !target.ends_with(['?', '&']) {
                    target.push(if target.contains('?') { '&' } else { '?' });
                }
                target.push_str(&query.finish());
            }
            input
        } else if fields.is_empty() {
            None
        } else {
            let object: Map<String, Value> = fields.into_iter().collect();
            Some(serde_json::to_vec(&Value::Object(object))?)
        };
        let headers = headers(&args.headers, token, body.is_some() && args.input.is_none())?;
        Ok(Self {
            method,
            target,
            headers,
            body,
        })
    }

    /// Sends the first request and, with `--paginate`, every next page; prints as it goes.
    async fn send(
        self,
        transport: &Transport,
        args: &ApiArgs,
        pretty: bool,
        out: &mut impl Write,
    ) -> anyhow::Result<ExitCode> {
        let mut next = Some(api_url(transport.base(), &self.target)?);
        let mut body = self.body;
        let mut pages: Vec<Vec<u8>> = Vec::new();
        while let Some(url) = next.take() {
            tracing::debug!(method = %self.method, path = %url.path(), "ghmesh api request");
            let answer = transport
                .send(self.method.clone(), &url, &self.headers, body.take())
                .await?;
            let status = answer.status;
            if args.include {
                writeln!(out, "{:?} {status}", answer.version)?;
                for (name, value) in &answer.headers {
                    writeln!(out, "{name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
                }
                writeln!(out)?;
            }
            if args.paginate && status.is_success() {
                next = answer
                    .headers
                    .get_all(reqwest::header::LINK)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .find_map(next_link)
                    .map(|link| same_origin_link(&url, &link))
                    .transpose()?;
            }
            if !status.is_success() {
                print_body(out, &answer.body, pretty)?;
                out.flush()?;
                eprintln!("error: HTTP {status}");
                return Ok(ExitCode::FAILURE);
            }
            pages.push(answer.body.to_vec());
        }
        print_pages(out, &pages, pretty)?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `BASE` + `/PATH`, keeping a base path such as `/api/v3`.
fn api_url(base: &str, path: &str) -> anyhow::Result<url::Url> {
    let joined = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url::Url::parse(&joined).with_context(|| format!("invalid API path `{path}`"))
}

/// Request headers: the user's, then the default Accept, the token and a User-Agent.
fn headers(given: &[String], token: Option<&str>, json_body: bool) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (index, header) in given.iter().enumerate() {
        // Never echo the argument: it may be `Authorization: token ...`.
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("-H argument {}: expected `Name: value`", index + 1))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("-H argument {}: invalid header name", index + 1))?;
        let mut value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("-H argument {}: invalid value for {name}", index + 1))?;
        if name == AUTHORIZATION {
            value.set_sensitive(true);
        }
        map.append(name, value);
    }
    if !map.contains_key(ACCEPT) {
        map.insert(ACCEPT, HeaderValue::from_static(DEFAULT_ACCEPT));
    }
    if let Some(token) = token.filter(|_| !map.contains_key(AUTHORIZATION)) {
        let mut value = HeaderValue::from_str(&format!("token {token}"))
            .ok()
            .context("GH_TOKEN / GITHUB_TOKEN holds characters not allowed in a header")?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    if !map.contains_key(USER_AGENT) {
        map.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("ghmesh/", env!("CARGO_PKG_VERSION"))),
        );
    }
    if json_body && !map.contains_key(reqwest::header::CONTENT_TYPE) {
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(map)
}

/// `key=value` of `-f` (always a string) or `-F` (typed, `@file` read).
fn parse_field(text: &str, typed: bool) -> anyhow::Result<(String, Value)> {
    let (key, value) = text
        .split_once('=')
        .with_context(|| format!("field `{text}`: expected key=value"))?;
    if key.is_empty() {
        anyhow::bail!("field `{text}`: empty key");
    }
    let value = if !typed {
        Value::String(value.to_string())
    } else if let Some(file) = value.strip_prefix('@') {
        let bytes = read_input(file.as_ref())?;
        Value::String(String::from_utf8(bytes).with_context(|| format!("{file}: not UTF-8"))?)
    } else {
        match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => value
                .parse::<i64>()
                .map_or_else(|_| Value::String(value.to_string()), Value::from),
        }
    };
    Ok((key.to_string(), value))
}

/// A field as a query-string value.
fn query_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Contents of FILE, or of stdin for `-`.
fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// The `rel="next"` target of one `link` header value.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .filter_map(|param| param.trim().strip_prefix("rel="))
            .any(|rel| {
                rel.trim_matches('"')
                    .split_whitespace()
                    .any(|r| r == "next")
            })
            .then(|| target.to_string())
    })
}

/// A next-page link resolved against the current URL; it must stay on the same origin, so the
/// token is never sent elsewhere.
fn same_origin_link(current: &url::Url, link: &str) -> anyhow::Result<url::Url> {
    let next = current
        .join(link)
        .with_context(|| format!("invalid next-page link `{link}`"))?;
    if next.origin() != current.origin() {
        anyhow::bail!(
            "next-page link leaves {}: not following it (is --url a ghmesh serve?)",
            current.origin().ascii_serialization()
        );
    }
    Ok(next)
}

/// All pages: JSON arrays merged into one array, anything else page after page.
fn print_pages(out: &mut impl Write, pages: &[Vec<u8>], pretty: bool) -> std::io::Result<()> {
    if pages.len() > 1 {
        let arrays: Option<Vec<Vec<Value>>> = pages
            .iter()
            .map(|page| match serde_json::from_slice(page) {
                Ok(Value::Array(items)) => Some(items),
                _ => None,
            })
            .collect();
        if let Some(arrays) = arrays {
            let merged = Value::Array(arrays.into_iter().flatten().collect());
            return print_body(out, &serde_json::to_vec(&merged)?, pretty);
        }
    }
    for page in pages {
        print_body(out, page, pretty)?;
    }
    Ok(())
}

/// A body: pretty JSON on a terminal, the bytes as they came otherwise (with a final newline).
fn print_body(out: &mut impl Write, bytes: &[u8], pretty: bool) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    if pretty && let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return writeln!(out, "{}", serde_json::to_string_pretty(&value)?);
    }
    out.write_all(bytes)?;
    if !bytes.ends_with(b"\n") {
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        api: ApiArgs,
    }

    fn args(list: &[&str]) -> ApiArgs {
        Wrapper::try_parse_from(std::iter::once("api").chain(list.iter().copied()))
            .expect("parse")
            .api
    }

    #[test]
    fn raw_fields_stay_strings_and_typed_fields_become_json() {
        assert_eq!(parse_field("n=5", false).unwrap(), ("n".into(), json!("5")));
        assert_eq!(parse_field("n=5", true).unwrap(), ("n".into(), json!(5)));
        assert_eq!(parse_field("b=true", true).unwrap().1, json!(true));
        assert_eq!(parse_field("b=true", false).unwrap().1, json!("true"));
        assert_eq!(parse_field("x=null", true).unwrap().1, Value::Null);
        assert_eq!(parse_field("s=1.5", true).unwrap().1, json!("1.5"));
        assert_eq!(parse_field("q=a=b", false).unwrap().1, json!("a=b"));
        assert!(parse_field("novalue", false).is_err());
        assert!(parse_field("=v", true).is_err());
    }

    #[test]
    fn typed_at_file_reads_the_file_and_raw_at_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("body.md");
        std::fs::write(&file, "hello\n").unwrap();
        let field = format!("body=@{}", file.display());
        assert_eq!(parse_field(&field, true).unwrap().1, json!("hello\n"));
        assert_eq!(
            parse_field(&field, false).unwrap().1,
            json!(format!("@{}", file.display()))
        );
        assert!(parse_field("body=@/nonexistent/file", true).is_err());
    }

    #[test]
    fn next_link_finds_rel_next() {
        let header = r#"<http://127.0.0.1:8080/repos/o/r/issues?page=2>; rel="next", <http://127.0.0.1:8080/repos/o/r/issues?page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("http://127.0.0.1:8080/repos/o/r/issues?page=2")
        );
        let last = r#"<http://h/x?page=1>; rel="first", <http://h/x?page=4>; rel="prev""#;
        assert_eq!(next_link(last), None);
        assert_eq!(
            next_link("<http://h/x?page=3>; rel=next").as_deref(),
            Some("http://h/x?page=3")
        );
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn next_links_must_stay_on_the_same_origin() {
        let current = url::Url::parse("http://127.0.0.1:8080/repos/o/r/issues").unwrap();
        assert!(same_origin_link(&current, "http://127.0.0.1:8080/x?page=2").is_ok());
        assert!(same_origin_link(&current, "/x?page=2").is_ok());
        assert!(same_origin_link(&current, "https://api.github.com/x?page=2").is_err());
    }

    #[test]
    fn get_fields_become_query_and_post_fields_a_json_body() {
        let get = Request::build(
            &args(&["repos/o/r/issues", "-f", "state=all", "-F", "per_page=3"]),
            None,
        )
        .unwrap();
        assert_eq!(
            get.method,
            reqwest::Method::POST,
            "fields imply POST, as in gh"
        );
        let get = Request::build(
            &args(&[
                "-X",
                "get",
                "/repos/o/r/issues?a=1",
                "-f",
                "state=all",
                "-F",
                "per_page=3",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(get.method, reqwest::Method::GET);
        assert_eq!(get.target, "/repos/o/r/issues?a=1&state=all&per_page=3");
        assert_eq!(
            api_url("http://127.0.0.1:8080", &get.target)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/repos/o/r/issues?a=1&state=all&per_page=3"
        );
        let spaced = Request::build(
            &args(&["-X", "GET", "search/issues", "-f", "q=a b&c"]),
            None,
        )
        .unwrap();
        assert_eq!(spaced.target, "/search/issues?q=a+b%26c");
        assert!(get.body.is_none());

        let post = Request::build(
            &args(&["repos/o/r/issues", "-f", "title=t", "-F", "draft=false"]),
            None,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(post.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"title": "t", "draft": false}));
        assert_eq!(
            post.headers[reqwest::header::CONTENT_TYPE],
            "application/json"
        );
    }

    #[test]
    fn token_and_accept_defaults_yield_to_given_headers() {
        let plain = Request::build(&args(&["repos/o/r"]), Some("secret")).unwrap();
        assert_eq!(plain.method, reqwest::Method::GET);
        assert_eq!(plain.headers[AUTHORIZATION], "token secret");
        assert!(plain.headers[AUTHORIZATION].is_sensitive());
        assert_eq!(plain.headers[ACCEPT], DEFAULT_ACCEPT);
        let given = Request::build(
            &args(&[
                "repos/o/r",
                "-H",
                "authorization: Bearer x",
                "-H",
                "Accept: text/plain",
            ]),
            Some("secret"),
        )
        .unwrap();
        assert_eq!(given.headers[AUTHORIZATION], "Bearer x");
        assert_eq!(given.headers[ACCEPT], "text/plain");
        let error = Request::build(&args(&["repos/o/r", "-H", "tokensecret"]), None)
            .err()
            .unwrap();
        assert!(!format!("{error:#}").contains("tokensecret"), "{error:#}");
    }

    #[test]
    fn paginate_needs_get_and_base_paths_are_kept() {
        assert!(Request::build(&args(&["--paginate", "-X", "POST", "x"]), None).is_err());
        assert!(Request::build(&args(&["--url", "ftp://h/", "x"]), None).is_err());
        let ghes = Request::build(&args(&["--url", "http://h:1/api/v3/", "/user"]), None).unwrap();
        assert_eq!(
            api_url("http://h:1/api/v3/", &ghes.target)
                .unwrap()
                .as_str(),
            "http://h:1/api/v3/user"
        );
    }

    #[test]
    fn pages_of_arrays_merge_and_others_follow_each_other() {
        let mut out = Vec::new();
        print_pages(&mut out, &[b"[1,2]".to_vec(), b"[3]".to_vec()], false).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[1,2,3]\n");
        let mut out = Vec::new();
        print_pages(
            &mut out,
            &[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()],
            false,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}
