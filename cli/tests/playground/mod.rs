//! The browser playground (`GET /`) in headless Chromium, without WebDriver: `tessera serve`
//! on a free loopback port, the page run from URL parameters (`autorun=1`), and the DOM it
//! leaves (`--dump-dom`, after `--virtual-time-budget`) read back. The page records its state
//! on `<body>`: `data-steps` (step events drawn), `data-done`, `data-errors` (page errors and
//! `console.error` calls). Screenshots go to `target/playground/`. The Infill task runs on
//! the llada-tiny fixture (a text model) and is refused on tessera-tiny (a world model).
//!
//! Chromium is Debian's `chromium`, installed with `apt-get` when it is not on `PATH`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Virtual milliseconds the page gets; the page holds virtual time while its stream is open.
const VIRTUAL_BUDGET_MS: u32 = 60_000;
/// Wall-clock bound of one Chromium run.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

/// A finished command: its status and output.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The last lines of the output, for failure messages.
    fn tail(&self) -> String {
        let both = format!("{}\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = both.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Runs `cmd` in its own process group, killing the whole group past `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Ran {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let drain = |mut from: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        rx
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            panic!("{what} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What the group's other processes (Chromium's helpers) still hold ends with them.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
    let stdout = stdout.recv_timeout(left).unwrap_or_default();
    let stderr = stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    Ran {
        status,
        stdout,
        stderr,
    }
}

/// Kills `child`'s process group (it leads its own), then reaps it.
fn kill_group(child: &mut Child) {
    let group = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: kill(2) with a negative pid signals that process group; the group is the
    // child's own (`process_group(0)`), so nothing else is touched.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// `name`'s path when it is on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

/// Debian's `chromium`, installed with `apt-get` (an `apt-get update` first if the install
/// fails) when it is not on `PATH`. One test at a time installs it: two `apt-get`s at once
/// fail on apt's lock (seen when both playground tests started on a machine without it).
fn chromium() -> PathBuf {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = on_path("chromium") {
        return found;
    }
    let apt = |args: &[&str], limit: Duration| {
        run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            limit,
        )
    };
    let install = || apt(&["install", "-y", "chromium"], Duration::from_secs(900));
    let started = Instant::now();
    let mut installed = install();
    if !installed.status.success() {
        let updated = apt(&["update"], Duration::from_secs(300));
        assert!(
            updated.status.success(),
            "chromium is not on PATH and `apt-get update` failed (root and network are needed to \
             install it; or install Debian's `chromium` yourself):\n{}",
            updated.tail()
        );
        installed = install();
    }
    assert!(
        installed.status.success(),
        "chromium is not on PATH and `apt-get install -y chromium` failed (root and network are \
         needed; or install Debian's `chromium` yourself):\n{}",
        installed.tail()
    );
    eprintln!("installed chromium in {:.1?}", started.elapsed());
    on_path("chromium").expect("apt-get installed chromium, yet it is not on PATH")
}

/// A tiny random LLaDA checkpoint with its tokenizer: a text model that fills blanks.
const LLADA_TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/llada-tiny");

/// `tessera serve --port 0`, killed when dropped (a failed assertion included).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Serves tessera-tiny, or the model of `args` (`["--model", DIR]`).
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the URL, then keeps draining stderr so that the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60));
        let mut server = Server {
            child,
            url: String::new(),
        };
        server.url = url.expect("the server printed its URL within 60 s");
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One page load: `chromium --headless … ARGS URL`.
fn chromium_run(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> Ran {
    let ran = run(
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--virtual-time-budget={VIRTUAL_BUDGET_MS}"))
            .args(args)
            .arg(url),
        CHROMIUM_TIMEOUT,
    );
    assert!(
        ran.status.success(),
        "chromium failed on {url}:\n{}",
        ran.tail()
    );
    ran
}

/// The value of attribute `name` in the start tag `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// The start tag of the element with `id` (`<… id="ID" …>`).
fn tag_with_id<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')? + 1;
    Some(&dom[start..end])
}

/// The text of the element with `id` (up to its first child tag).
fn text_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let tag = tag_with_id(dom, id)?;
    let start = dom.find(tag)? + tag.len();
    let len = dom[start..].find('<')?;
    Some(&dom[start..start + len])
}

/// The text of the page's error box (`#error`, tags dropped), or "nothing".
fn shown_error(dom: &str) -> String {
    if tag_with_id(dom, "error").is_none_or(|t| t.contains(" hidden")) {
        return "nothing".into();
    }
    plain_text_of(dom, "error", "</div>")
}

/// What the page recorded on `<body>` after a run.
#[derive(Debug)]
struct PageState {
    steps: usize,
    done: String,
    errors: usize,
    state: String,
}

fn page_state(dom: &str, url: &str) -> PageState {
    let head_end = dom.find("</head>").unwrap_or(0);
    let body = &dom[head_end..];
    let start = body
        .find("<body")
        .unwrap_or_else(|| panic!("no <body> in the DOM of {url}:\n{dom}"));
    let end = start + body[start..].find('>').unwrap();
    let tag = &body[start..=end];
    let number = |name: &str| {
        attribute(tag, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{tag} has no numeric {name} ({url})"))
    };
    PageState {
        steps: number("data-steps"),
        done: attribute(tag, "data-done").unwrap_or_default().to_string(),
        errors: number("data-errors"),
        state: attribute(tag, "data-state").unwrap_or_default().to_string(),
    }
}

/// The texts of the `<mark class="filled">` elements (an infill's filled blanks) in `dom`.
fn filled_marks(dom: &str) -> Vec<&str> {
    let mut marks = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find("<mark class=\"filled") {
        rest = &rest[at..];
        let start = rest.find('>').expect("a closed start tag") + 1;
        let len = rest[start..].find("</mark>").expect("a closed mark");
        marks.push(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    marks
}

/// The element with `id` with its tags dropped (entities kept), up to its closing `</TAG>`.
fn plain_text_of(dom: &str, id: &str, closing: &str) -> String {
    let tag = tag_with_id(dom, id).unwrap_or_else(|| panic!("no #{id}"));
    let start = dom.find(tag).unwrap() + tag.len();
    let inner = &dom[start..start + dom[start..].find(closing).unwrap_or(0)];
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// Runs the page at `query` to its end: the DOM, checked for a finished, error-free run.
fn run_page(chromium: &Path, profile: &Path, base: &str, query: &str, name: &str) -> String {
    let url = format!("{base}?{query}");
    let started = Instant::now();
    let dom = chromium_run(chromium, profile, &["--dump-dom"], &url).stdout;
    eprintln!("{name}: the page ran in {:.1?}", started.elapsed());
    std::fs::write(artefacts().join(format!("{name}.html")), &dom).unwrap();
    let state = page_state(&dom, &url);
    let alert = tag_with_id(&dom, "error").unwrap_or_default();
    assert!(
        state.steps > 0 && state.done == "1" && state.errors == 0 && state.state == "done",
        "{name}: {state:?}; the page says: {}",
        shown_error(&dom)
    );
    assert!(alert.contains(" hidden"), "{name}: the error box shows");
    dom
}

/// Saves a 1200×900 screenshot of the page at `query` as `target/playground/NAME.png`.
fn screenshot(chromium: &Path, profile: &Path, base: &str, query: &str, name: &str) {
    let path = artefacts().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    let url = format!("{base}?{query}");
    chromium_run(
        chromium,
        profile,
        &[
            &format!("--screenshot={}", path.display()),
            "--window-size=1200,900",
        ],
        &url,
    );
    let shot = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!((shot.width(), shot.height()), (1200, 900), "{name}");
}

/// `target/playground/`, the test's artefacts.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/playground");
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap_or(dir)
}

#[test]
fn the_playground_denoises_live_in_headless_chromium() {
    let started = Instant::now();
    let chromium = chromium();
    let server = Server::start(&[]);
    let profile = artefacts().join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let base = server.url.as_str();

    // Text: the default decoding of tessera-tiny.
    let text = "task=text&prompt=123%2B45%3D&autorun=1";
    let dom = run_page(&chromium, &profile, base, text, "text");
    assert_eq!(text_of(&dom, "output-text"), Some("168"), "text output");
    assert!(dom.contains("class=\"cell"), "the canvas has no cells");
    // tessera-tiny was trained to fill blanks in its own templates: the Infill task is on,
    // offers them (with the widths it was trained on) and fills the missing addend.
    let radio = tag_with_id(&dom, "task-infill").expect("an Infill radio");
    assert!(
        !radio.contains(" disabled"),
        "Infill is not offered: {radio}"
    );
    let infill = "task=infill&prompt=123%2B%5B___%5D%3D168&blank=3&autorun=1";
    let dom = run_page(&chromium, &profile, base, infill, "infill-world");
    assert_eq!(filled_marks(&dom), ["45"], "the filled blank");
    assert_eq!(plain_text_of(&dom, "output-text", "</div>"), "123+45=168");
    assert!(
        dom.contains("sort 5 3 9 1 = 1 [___] 5 [___]"),
        "the world's infill examples are offered"
    );

    // Text to image, one position per step: previews resolve the picture.
    let t2i = "task=t2i&prompt=a+large+red+circle+at+the+top+left&policy=diffusion&autorun=1";
    let dom = run_page(&chromium, &profile, base, t2i, "t2i");
    let img = tag_with_id(&dom, "output-image").expect("an output image element");
    assert!(
        !img.contains(" hidden"),
        "the output image is hidden: {img}"
    );
    let src = attribute(img, "src").unwrap_or_default();
    let png = src
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| {
            let head: String = img.chars().take(120).collect();
            panic!("the output image is not a data: PNG: {head}")
        });
    let picture = image::load_from_memory(&B64.decode(png).expect("base64"))
        .expect("a PNG")
        .to_rgb8();
    assert_eq!(picture.dimensions(), (64, 64));
    let [r, g, b] = picture.get_pixel(16, 16).0;
    assert!(
        r > 200 && g < 60 && b < 60,
        "not red at the top left: {r} {g} {b}"
    );
    assert!(
        picture.get_pixel(48, 48).0.iter().all(|&c| c < 60),
        "not black at the bottom right"
    );
    let preview = tag_with_id(&dom, "preview").expect("a preview element");
    assert!(attribute(preview, "src").is_some_and(|s| s.starts_with("data:image/png;base64,")));

    // Refinement rounds re-mask committed positions: the canvas marks them.
    let refine = "task=text&prompt=sudoku+1.3.%7C.41.%7C4..3%7C2.4.+%3D&policy=diffusion\
                  &refine=2&fraction=0.3&autorun=1";
    let dom = run_page(&chromium, &profile, base, refine, "refine");
    assert!(
        dom.contains("cell kept") || dom.contains("cell revised"),
        "no re-masked position is marked on the canvas"
    );
    assert!(text_of(&dom, "output-text").is_some_and(|t| !t.is_empty()));

    screenshot(&chromium, &profile, base, text, "text");
    screenshot(&chromium, &profile, base, t2i, "t2i");
    drop(server);
    let _ = std::fs::remove_dir_all(&profile);
    eprintln!(
        "the playground test took {:.1?}; screenshots in {}",
        started.elapsed(),
        artefacts().display()
    );
}

#[test]
fn the_playground_fills_blanks_on_a_text_model() {
    let chromium = chromium();
    let server = Server::start(&["--model", LLADA_TINY]);
    let profile = artefacts().join("chromium-profile-infill");
    let _ = std::fs::remove_dir_all(&profile);
    let base = server.url.as_str();

    // Two blanks of 4 tokens in given text. The random model writes gibberish: what is
    // checked is the structure (the given text kept, each blank filled, nothing masked).
    let infill = "task=infill&prompt=The+cat+%5B___%5D+on+the+mat%2C+and+the+dog+___+in+the+sun.\
                  &blank=4&autorun=1";
    let dom = run_page(&chromium, &profile, base, infill, "infill");
    let radio = tag_with_id(&dom, "task-infill").expect("an Infill radio");
    assert!(
        !radio.contains(" disabled"),
        "Infill is not offered: {radio}"
    );
    let state = page_state(&dom, base);
    assert!(state.steps >= 2, "{state:?}");
    let fills = filled_marks(&dom);
    assert_eq!(fills.len(), 2, "two filled blanks in the output");
    for fill in &fills {
        assert!(
            !fill.is_empty() && !fill.contains('▒'),
            "a blank filled with {fill:?}"
        );
    }
    let output = plain_text_of(&dom, "output-text", "</div>");
    let given = ["The cat ", " on the mat, and the dog ", " in the sun."];
    let want = format!(
        "{}{}{}{}{}",
        given[0], fills[0], given[1], fills[1], given[2]
    );
    assert_eq!(output, want, "the given text around the fills");
    let answer = plain_text_of(&dom, "text-view", "</div>");
    assert!(
        answer.starts_with("The cat ") && !answer.contains('▒'),
        "the denoising view ends with {answer:?}"
    );
    assert!(
        dom.contains("cell given"),
        "no given positions on the canvas"
    );

    screenshot(&chromium, &profile, base, infill, "infill");
    drop(server);
    let _ = std::fs::remove_dir_all(&profile);
}
