//! The HTML report in a real browser: a small run writes `index.html`,
//! headless Chromium screenshots it offline, and the screenshot must show the
//! charts (not a blank page). Chromium is `$FLEETSIM_CHROMIUM`, else
//! `chromium` or `chromium-browser` on PATH; without it the test is skipped,
//! loudly (CI installs Debian's `chromium`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = "
name: html-report
seed: 7
duration: 6h
server: { polling: 1m }
fleet:
  - kind: always_on
    count: 60
    install_failure: 0.05
    connectivity: { loss: 0.01, latency: { p50: 40ms, p99: 400ms }, bandwidth: 1MiB }
campaigns:
  - at: 30m
    artifacts: [ { name: fw.bin, size: 2MiB } ]
expect:
  violations: none
";

/// Colours the charts draw solid (see crates/fleet/src/report/charts.rs).
const UPDATED_GREEN: [u8; 3] = [52, 168, 83];
const BAR_BLUE: [u8; 3] = [66, 133, 244];

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEETSIM_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs `cmd`, killing it after `limit`; true if it exited successfully.
fn run_bounded(cmd: &mut Command, limit: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => return status.success(),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within {limit:?}");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Decodes a PNG into RGB pixels.
fn pixels(path: &Path) -> Vec<[u8; 3]> {
    let file = std::fs::File::open(path).expect("screenshot exists");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6)
}

#[test]
fn index_html_renders_offline_in_chromium() {
    let dir = std::env::temp_dir().join(format!("fleetsim-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = dir.join("html-report.yaml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let out = dir.join("report");
    let status = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .arg("run")
        .arg(&scenario)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .status()
        .expect("fleetsim runs");
    assert!(status.success(), "the run meets its expectations");
    let index = out.join("index.html");
    let html = std::fs::read_to_string(&index).expect("index.html written next to report.json");
    assert!(out.join("report.json").is_file());
    assert_eq!(html.matches("<svg").count(), 5);

    let Some(chromium) = chromium() else {
        // Straight to stderr: the test harness captures eprintln! of passing tests.
        let banner = "!".repeat(72);
        let _ = writeln!(
            std::io::stderr(),
            "{banner}\nhtml_report: SKIPPED: chromium not found (install Debian's \
             `chromium` or set FLEETSIM_CHROMIUM)\n{banner}"
        );
        return;
    };
    let shot = dir.join("shot.png");
    let ok = run_bounded(
        Command::new(&chromium)
            .arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--hide-scrollbars")
            .arg("--no-first-run")
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1280,2000")
            .arg(format!("file://{}", index.display())),
        Duration::from_secs(60),
    );
    assert!(ok, "{} exited with an error", chromium.display());
    let px = pixels(&shot);
    assert!(
        px.len() >= 1280 * 1000,
        "screenshot has {} pixels",
        px.len()
    );
    let non_white = px.iter().filter(|p| p.iter().any(|c| *c < 235)).count();
    let mut distinct: Vec<[u8; 3]> = px.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let green = px.iter().filter(|p| near(**p, UPDATED_GREEN)).count();
    let blue = px.iter().filter(|p| near(**p, BAR_BLUE)).count();
    eprintln!(
        "screenshot: {} pixels, {:.1}% not white, {} colours, {green} green, {blue} blue",
        px.len(),
        100.0 * non_white as f64 / px.len() as f64,
        distinct.len()
    );
    assert!(
        non_white * 20 > px.len(),
        "page looks blank: {non_white} non-white pixels"
    );
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    assert!(green > 1000, "the 'updated' area is drawn ({green} pixels)");
    assert!(blue > 300, "blue chart elements are drawn ({blue} pixels)");
    let _ = std::fs::remove_dir_all(&dir);
}
