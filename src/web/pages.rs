//! Server-rendered pages, as both front ends make them: a [`Templates`] set compiled into the
//! binary (minijinja, HTML auto-escaping), rendered into a [`Page`] response; and the style
//! sheet response. A template that fails to render becomes a plain static error page, never a
//! half-written one. What the pages say, and which values they get, belongs to the front end.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// A page and how it is sent.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub html: String,
    pub set_cookie: Option<HeaderValue>,
    pub retry_after: Option<u64>,
}

impl Page {
    pub fn new(status: StatusCode, html: String) -> Page {
        Page {
            status,
            html,
            set_cookie: None,
            retry_after: None,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            self.html,
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(cookie) = self.set_cookie {
            headers.insert(header::SET_COOKIE, cookie);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A style sheet compiled into the binary, as a response.
pub fn stylesheet(css: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        css,
    )
        .into_response()
}

/// A template failed to compile or render (a bug in the templates).
#[derive(Debug, thiserror::Error)]
#[error("{site} template {name}: {message}")]
pub struct TemplateError {
    site: &'static str,
    name: String,
    message: String,
}

/// One site's compiled templates.
pub struct Templates {
    env: Environment<'static>,
    /// `portal`, `helpdesk`: for errors and logs.
    site: &'static str,
    /// The last resort when a template itself fails: plain, static, still a page.
    broken: &'static str,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Compiles `(name, source)` pairs: HTML auto-escaping, trimmed blocks, `undefined` for
    /// missing values. Globals and filters may be added to [`Templates::env`] afterwards.
    pub fn new(
        site: &'static str,
        sources: &[(&'static str, &'static str)],
        undefined: UndefinedBehavior,
        broken: &'static str,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(undefined);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        let mut templates = Templates { env, site, broken };
        for (name, source) in sources {
            let added = templates.env.add_template(name, source);
            added.map_err(|e| templates.error(name, &e))?;
        }
        Ok(templates)
    }

    /// The environment, to add globals and filters.
    pub fn env(&mut self) -> &mut Environment<'static> {
        &mut self.env
    }

    fn error(&self, name: &str, e: &minijinja::Error) -> TemplateError {
        TemplateError {
            site: self.site,
            name: name.into(),
            message: format!("{e:#}"),
        }
    }

    pub fn try_render<S: Serialize>(&self, name: &str, context: S) -> Result<String, TemplateError> {
        let template = self.env.get_template(name).map_err(|e| self.error(name, &e))?;
        template.render(context).map_err(|e| self.error(name, &e))
    }

    /// Renders `name` into a page with `status`; a failure is logged and becomes a 500 page.
    pub fn page<S: Serialize>(&self, status: StatusCode, name: &str, context: S) -> Page {
        match self.try_render(name, context) {
            Ok(html) => Page::new(status, html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering a {} page failed", self.site);
                Page::new(StatusCode::INTERNAL_SERVER_ERROR, self.broken.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKEN: &str = "<p>broken</p>";

    fn templates(sources: &[(&'static str, &'static str)]) -> Result<Templates, TemplateError> {
        Templates::new("test", sources, UndefinedBehavior::Strict, BROKEN)
    }

    #[test]
    fn render_escape_and_fall_back() {
        let t = templates(&[("a.html", "<p>{{ x }}</p>"), ("b.html", "{{ missing.y }}")]).unwrap();
        let page = t.page(StatusCode::CREATED, "a.html", minijinja::context! { x => "<b>" });
        assert_eq!(
            (page.status, page.html.as_str()),
            (StatusCode::CREATED, "<p>&lt;b&gt;</p>")
        );
        let page = t.page(StatusCode::OK, "b.html", minijinja::context! {});
        assert_eq!(
            (page.status, page.html.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, BROKEN)
        );
        let e = t.try_render("nope.html", ()).unwrap_err().to_string();
        assert!(e.starts_with("test template nope.html: "), "{e}");
        let e = templates(&[("c.html", "{% if %}")]).unwrap_err().to_string();
        assert!(e.starts_with("test template c.html: "), "{e}");
    }

    #[test]
    fn page_headers() {
        let mut page = Page::new(StatusCode::TOO_MANY_REQUESTS, "<p>x</p>".into());
        page.set_cookie = Some(HeaderValue::from_static("a=b"));
        page.retry_after = Some(30);
        let r = page.into_response();
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::SET_COOKIE], "a=b");
        assert_eq!(h[header::RETRY_AFTER], "30");
        let css = stylesheet("p {}");
        assert_eq!(css.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    }
}
