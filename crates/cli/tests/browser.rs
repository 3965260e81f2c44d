//! The HTML report in a real browser: headless Chromium opens the report of the leader
//! crashing before its first COMMIT and the test checks that it draws, as a person opening
//! the file would see it: the timeline has one lane per server with real size on the page,
//! nothing is logged to the console, and the screenshot shows the lanes' colours.
//!
//! Without Chromium the test is skipped with a message, unless ZABSIM_REQUIRE_BROWSER is set
//! (CI sets it, so CI never skips it silently). ZABSIM_CHROMIUM names the browser binary
//! when it is not on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZABSIM_CHROMIUM") {
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

#[test]
fn the_report_draws_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("ZABSIM_REQUIRE_BROWSER").is_none(),
            "ZABSIM_REQUIRE_BROWSER is set but no chromium was found on PATH \
             (apt-get install chromium, or set ZABSIM_CHROMIUM)"
        );
        eprintln!(
            "SKIPPED the_report_draws_in_a_real_browser: no chromium on PATH \
             (apt-get install chromium, or set ZABSIM_CHROMIUM); \
             set ZABSIM_REQUIRE_BROWSER=1 to make this a failure"
        );
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
    let shot = dir.join("shot.png");
    let out = headless(
        &browser,
        &dir,
        "shot",
        &report,
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
    let count = |c: [u8; 3]| px.rgb.iter().filter(|p| **p == c).count();
    let background = count([0xf6, 0xf7, 0xf9]) + count([0xff, 0xff, 0xff]);
    assert!(
        background < px.rgb.len() * 9 / 10,
        "the screenshot is almost blank: {background} of {} pixels are background",
        px.rgb.len()
    );
    let distinct: std::collections::BTreeSet<[u8; 3]> = px.rgb.iter().copied().collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    // The lanes' colours (style.css): LEADING, FOLLOWING and LOOKING spans are on screen,
    // and so is the red of the crash mark.
    for (name, c, min) in [
        ("LEADING", [0x23, 0x93, 0x5a], 2000),
        ("FOLLOWING", [0x3f, 0x86, 0xd0], 2000),
        ("LOOKING", [0xf0, 0xad, 0x2b], 100),
        ("crash", [0xff, 0x1f, 0x1f], 10),
    ] {
        let n = count(c);
        assert!(
            n >= min,
            "{name}: {n} pixels of {c:02x?}, expected at least {min}"
        );
    }

    // The page's structure as laid out: one lane per server, each drawn with real size,
    // and no error from the start of the page on.
    let html = std::fs::read_to_string(&report).expect("report");
    let checked = html
        .replacen("<head>", &format!("<head>{RECORD_ERRORS}"), 1)
        .replacen("</body>", &format!("{MEASURE}</body>"), 1);
    let page = dir.join("check.html");
    std::fs::write(&page, checked).expect("write");
    let out = headless(&browser, &dir, "dom", &page, &["--dump-dom"]);
    let dom = &out.stdout;
    let start = dom
        .find(r#"<pre id="check">"#)
        .expect("the measuring script ran")
        + 16;
    let end = start + dom[start..].find("</pre>").expect("end of the measurement");
    let text = dom[start..end].replace("&quot;", "\"");
    let m: serde_json::Value = serde_json::from_str(&text).expect("measurement is JSON");
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
    assert_eq!(m["errors"], serde_json::json!([]), "{m}");
    assert!(console_lines(&out).is_empty(), "{:#?}", console_lines(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
