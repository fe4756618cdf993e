//! The UI files, compiled into the binary so the camera serves its whole UI offline (no CDN, no
//! Node.js at run time). Adding a file here is the only step: there is no front-end build.

/// The page shell of `/live` and `/setup/...`: `app.js` renders the menu and the page.
pub(crate) const SHELL_HTML: &str = include_str!("../assets/shell.html");
/// First-access registration of the administrator (public until one exists).
pub(crate) const REGISTER_HTML: &str = include_str!("../assets/register.html");
pub(crate) const UNAUTHORIZED_HTML: &str = include_str!("../assets/401.html");
pub(crate) const FORBIDDEN_HTML: &str = include_str!("../assets/403.html");
pub(crate) const LOCKED_HTML: &str = include_str!("../assets/429.html");
pub(crate) const NOT_FOUND_HTML: &str = include_str!("../assets/404.html");
/// Where log out lands (public: it holds nothing).
pub(crate) const LOGOUT_HTML: &str = include_str!("../assets/logout.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Files under `/ui/`: path, content type, bytes.
pub(crate) const FILES: &[(&str, &str, &[u8])] = &[
    (
        "ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/ui.css"),
    ),
    ("js/api.js", JS, include_bytes!("../assets/js/api.js")),
    ("js/app.js", JS, include_bytes!("../assets/js/app.js")),
    ("js/form.js", JS, include_bytes!("../assets/js/form.js")),
    ("js/https.js", JS, include_bytes!("../assets/js/https.js")),
    (
        "js/layouts.js",
        JS,
        include_bytes!("../assets/js/layouts.js"),
    ),
    ("js/live.js", JS, include_bytes!("../assets/js/live.js")),
    ("js/log.js", JS, include_bytes!("../assets/js/log.js")),
    (
        "js/maintenance.js",
        JS,
        include_bytes!("../assets/js/maintenance.js"),
    ),
    ("js/pages.js", JS, include_bytes!("../assets/js/pages.js")),
    ("js/policy.js", JS, include_bytes!("../assets/js/policy.js")),
    (
        "js/recordings.js",
        JS,
        include_bytes!("../assets/js/recordings.js"),
    ),
    (
        "js/register.js",
        JS,
        include_bytes!("../assets/js/register.js"),
    ),
    ("js/schema.js", JS, include_bytes!("../assets/js/schema.js")),
    ("js/status.js", JS, include_bytes!("../assets/js/status.js")),
    (
        "js/strings.js",
        JS,
        include_bytes!("../assets/js/strings.js"),
    ),
    ("js/vmd.js", JS, include_bytes!("../assets/js/vmd.js")),
    (
        "js/widgets.js",
        JS,
        include_bytes!("../assets/js/widgets.js"),
    ),
];

pub(crate) fn find(path: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}
