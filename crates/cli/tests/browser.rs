//! The HTML reports in a real browser: headless Chromium opens the report of the leader
//! crashing before its first COMMIT and the test checks that it draws, as a person opening
//! the file would see it: the timeline has one lane per server with real size on the page,
//! nothing is logged to the console, and the screenshot shows the lanes' colours. The
//! report of a failing `sim fuzz` sweep gets the same treatment: its charts have real size,
//! its failures table has rows, and nothing is logged. So does the report of a recipe leader
//! paused through its successors' terms: a lane per client, with the leadership spans and
//! the pause drawn.
//!
//! Without Chromium the test is skipped with a message, unless ZABSIM_REQUIRE_BROWSER is set
//! (CI sets it, so CI never skips it silently). ZABSIM_CHROMIUM names the browser binary
//! when it is not on PATH.

mod common;

use common::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZABSIM_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// What the browser printed.
struct Printed {
    stdout: String,
    stderr: String,
}

/// Runs the browser headless on a page, giving up after a minute. Its output goes to files,
/// so that a full pipe cannot stall it.
fn headless(browser: &Path, dir: &Path, name: &str, page: &Path, action: &[&str]) -> Printed {
    let (out_path, err_path) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1400",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join(format!("{name}-profile")).display()
        ))
        .args(action)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("the browser starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait for the browser").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Printed {
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

/// Console messages the browser logged while loading the page.
fn console_lines(out: &Printed) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// Records errors (script errors, resources that fail to load, console.error) from the
/// start of the page, and once it has loaded, measures the timeline's lanes into a
/// `<pre id="check">` that `--dump-dom` prints. Only the test's copy of the report gets it:
/// the report itself has no script.
const RECORD_ERRORS: &str = r#"<script>window.zErrors=[];addEventListener('error',function(e){zErrors.push(String(e.message||(e.target&&(e.target.src||e.target.href))))},true);var zCe=console.error;console.error=function(){zErrors.push(Array.from(arguments).join(' '));zCe.apply(console,arguments)};</script>"#;
const MEASURE: &str = r#"<script>addEventListener('load',function(){var svg=document.getElementById('timeline');var lanes=svg?Array.from(svg.querySelectorAll('g.lane')):[];var drawn=lanes.filter(function(g){var r=g.getBoundingClientRect();return r.width>300&&r.height>20;}).length;var rects=lanes.map(function(g){return g.querySelectorAll('rect').length;});var box=svg?svg.getBoundingClientRect():{width:0,height:0};var out=document.createElement('pre');out.id='check';out.textContent=JSON.stringify({lanes:lanes.map(function(g){return g.getAttribute('data-server')}),drawn:drawn,rects:rects,width:box.width,height:box.height,errors:zErrors});document.body.appendChild(out);});</script>"#;

struct Pixels {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Pixels {
    fn count(&self, c: [u8; 3]) -> usize {
        self.rgb.iter().filter(|p| **p == c).count()
    }
}

fn read_png(path: &Path) -> Pixels {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("screenshot written"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let rgb = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Pixels {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

/// The browser, or `None` (after saying so) when the test is to be skipped.
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    let browser = chromium();
    if browser.is_none() {
        assert!(
            std::env::var_os("ZABSIM_REQUIRE_BROWSER").is_none(),
            "ZABSIM_REQUIRE_BROWSER is set but no chromium was found on PATH \
             (apt-get install chromium, or set ZABSIM_CHROMIUM)"
        );
        // Straight to stderr, past the test harness's capture, so that the skip shows in
        // the normal test output.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!(
                "SKIPPED {test}: no chromium on PATH \
                 (apt-get install chromium, or set ZABSIM_CHROMIUM); \
                 set ZABSIM_REQUIRE_BROWSER=1 to make this a failure\n"
            )
            .as_bytes(),
        );
    }
    browser
}

/// Takes a screenshot of the page and checks that nothing was logged to the console and
/// that the picture is not blank: at most `max_background` percent of it is page or chart
/// background (a page of tables and white charts has more than one of timelines).
fn screenshot_not_blank(browser: &Path, dir: &Path, page: &Path, max_background: usize) -> Pixels {
    let shot = dir.join("shot.png");
    let out = headless(
        browser,
        dir,
        "shot",
        page,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(shot.exists(), "no screenshot: {}", out.stderr);
    let console = console_lines(&out);
    assert!(
        console.is_empty(),
        "the page logged to the console: {console:#?}"
    );
    let px = read_png(&shot);
    assert_eq!((px.width, px.height), (1280, 1400), "screenshot size");
    let background = px.count([0xf6, 0xf7, 0xf9]) + px.count([0xff, 0xff, 0xff]);
    assert!(
        background * 100 < px.rgb.len() * max_background,
        "the screenshot is almost blank: {background} of {} pixels are background",
        px.rgb.len()
    );
    let distinct: std::collections::BTreeSet<[u8; 3]> = px.rgb.iter().copied().collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    px
}

/// Loads a copy of the page with `measure` appended and returns what it wrote into
/// `<pre id="check">`, checking that no error was recorded nor logged.
fn measure(browser: &Path, dir: &Path, report: &Path, measure: &str) -> serde_json::Value {
    let html = std::fs::read_to_string(report).expect("report");
    let checked = html
        .replacen("<head>", &format!("<head>{RECORD_ERRORS}"), 1)
        .replacen("</body>", &format!("{measure}</body>"), 1);
    let page = dir.join("check.html");
    std::fs::write(&page, checked).expect("write");
    let out = headless(browser, dir, "dom", &page, &["--dump-dom"]);
    let dom = &out.stdout;
    let start = dom
        .find(r#"<pre id="check">"#)
        .expect("the measuring script ran")
        + 16;
    let end = start + dom[start..].find("</pre>").expect("end of the measurement");
    let text = dom[start..end].replace("&quot;", "\"");
    let m: serde_json::Value = serde_json::from_str(&text).expect("measurement is JSON");
    assert_eq!(m["errors"], serde_json::json!([]), "{m}");
    assert!(console_lines(&out).is_empty(), "{:#?}", console_lines(&out));
    m
}

#[test]
fn the_report_draws_in_a_real_browser() {
    let Some(browser) = browser_or_skip("the_report_draws_in_a_real_browser") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("zabsim-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .args([
            "run",
            "scenarios/leader-crash-before-commit.toml",
            "--seed",
            "42",
            "--report",
        ])
        .arg(&report)
        .output()
        .expect("sim runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What a person sees: a screenshot, and whatever the page logged to the console.
    let px = screenshot_not_blank(&browser, &dir, &report, 90);
    // The lanes' colours (style.css): LEADING, FOLLOWING and LOOKING spans are on screen,
    // and so is the red of the crash mark.
    for (name, c, min) in [
        ("LEADING", [0x23, 0x93, 0x5a], 2000),
        ("FOLLOWING", [0x3f, 0x86, 0xd0], 2000),
        ("LOOKING", [0xf0, 0xad, 0x2b], 100),
        ("crash", [0xff, 0x1f, 0x1f], 10),
    ] {
        let n = px.count(c);
        assert!(
            n >= min,
            "{name}: {n} pixels of {c:02x?}, expected at least {min}"
        );
    }

    // The page's structure as laid out: one lane per server, each drawn with real size,
    // and no error from the start of the page on.
    let m = measure(&browser, &dir, &report, MEASURE);
    assert_eq!(m["lanes"], serde_json::json!(["s1", "s2", "s3"]), "{m}");
    assert_eq!(m["drawn"], 3, "every lane has real size on the page: {m}");
    assert!(m["width"].as_f64().unwrap() > 600.0, "{m}");
    assert!(
        m["rects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.as_u64().unwrap() >= 3),
        "each lane has its state spans: {m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Measures the client lanes of the main timeline: each one's size, and how many leadership
/// spans and pauses it draws.
const MEASURE_CLIENTS: &str = r#"<script>addEventListener('load',function(){var svg=document.getElementById('timeline');var lanes=svg?Array.from(svg.querySelectorAll('g.client-lane')):[];var out=document.createElement('pre');out.id='check';out.textContent=JSON.stringify({clients:lanes.map(function(g){var r=g.getBoundingClientRect();return {id:g.getAttribute('data-client'),width:r.width,height:r.height,led:g.querySelectorAll('rect.role-leader').length,paused:g.querySelectorAll('g.paused').length};}),errors:zErrors});document.body.appendChild(out);});</script>"#;

#[test]
fn the_client_lanes_draw_in_a_real_browser() {
    let Some(browser) = browser_or_skip("the_client_lanes_draw_in_a_real_browser") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("zabsim-browser-clients-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = dir.join("clients.html");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .args(["run", "scenarios/clients/recipe-gc-pause.toml", "--report"])
        .arg(&report)
        .output()
        .expect("sim runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the recipe-safety violation is expected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    screenshot_not_blank(&browser, &dir, &report, 90);
    let m = measure(&browser, &dir, &report, MEASURE_CLIENTS);
    let clients = m["clients"].as_array().expect("clients");
    let ids: Vec<&str> = clients.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"], "{m}");
    for c in clients {
        assert!(c["width"].as_f64().unwrap() > 600.0, "{c}");
        assert!(c["height"].as_f64().unwrap() > 15.0, "{c}");
        assert!(
            c["led"].as_u64().unwrap() >= 1,
            "every client led at some time: {c}"
        );
    }
    let paused: Vec<&str> = clients
        .iter()
        .filter(|c| c["paused"].as_u64().unwrap() > 0)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(paused.len(), 1, "one client is paused: {m}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Measures the sweep report's tables and charts: each chart figure with its SVG, and how
/// big it is on the page.
const MEASURE_SWEEP: &str = r#"<script>addEventListener('load',function(){var figs=Array.from(document.querySelectorAll('figure[id]')).map(function(f){var svg=f.querySelector('svg');var r=svg?svg.getBoundingClientRect():{width:0,height:0};return {id:f.id,width:r.width,height:r.height,shapes:svg?svg.querySelectorAll('rect,path,polyline,line').length:0};});var rows=document.querySelectorAll('#failures-table tr').length;var out=document.createElement('pre');out.id='check';out.textContent=JSON.stringify({figures:figs,failure_rows:rows,errors:zErrors});document.body.appendChild(out);});</script>"#;

#[test]
fn the_fuzz_report_draws_in_a_real_browser() {
    let Some(browser) = browser_or_skip("the_fuzz_report_draws_in_a_real_browser") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("zabsim-browser-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let report = dir.join("fuzz.html");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .args([
            "fuzz",
            "scenarios/swarm/five-servers-writes.toml",
            "--seeds",
            "0..8",
            "--bug",
            "zk-1154",
            "--report",
        ])
        .arg(&report)
        .output()
        .expect("sim runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "zk-1154 fails some of the eight seeds: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let px = screenshot_not_blank(&browser, &dir, &report, 96);
    // The red of the FAIL badge and of the failing seeds' bars is on screen (style.css,
    // sweep_charts.rs).
    let red = px.count([0xc6, 0x28, 0x28]);
    assert!(red >= 2000, "{red} red pixels: no badge or no failure bars");

    let m = measure(&browser, &dir, &report, MEASURE_SWEEP);
    let figures = m["figures"].as_array().expect("figures");
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "chart-failures",
            "chart-families",
            "chart-elect",
            "chart-progress"
        ],
        "{m}"
    );
    for f in figures {
        assert!(f["width"].as_f64().unwrap() > 400.0, "{f}");
        assert!(f["height"].as_f64().unwrap() > 200.0, "{f}");
        assert!(f["shapes"].as_u64().unwrap() >= 5, "{f}");
    }
    assert!(
        m["failure_rows"].as_u64().unwrap() >= 2,
        "a header and a row at least: {m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
