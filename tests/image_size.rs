//! The images' sizes: the package table fetch-packages.sh writes (from an
//! apk database, here a synthetic one), and build-os-image.sh's size report
//! and budget on synthetic Pi images: within budget, over only with
//! Docker's packages on board (allowed, and said so), over regardless
//! (refused); the minimum RAM; the ten largest packages.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs a function of lib.sh in sh.
fn lib_sh(call: &str, args: &[&Path]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "SCRIPT_DIR='{}'; . \"$SCRIPT_DIR/lib.sh\"; {call} \"$@\"",
            script("").display()
        ))
        .arg("sh")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_package_table_joins_apks_database_roles_and_file_sizes() {
    let dir = TempDir::new("size-table");
    // apk-tools' installed database: one record per package.
    let db = dir.path("installed");
    write(
        &db,
        "C:Q1abc=\nP:busybox\nV:1.37.0-r18\nA:x86_64\nS:520000\nI:950000\nT:Size optimized toolbox\n\n\
         C:Q1def=\nP:docker-engine\nV:28.3.3-r1\nA:x86_64\nS:21000000\nI:76000000\n\n\
         C:Q1ghi=\nP:python3\nV:3.12.11-r0\nA:x86_64\nS:14000000\nI:60000000\n",
    );
    let roles = dir.path("roles");
    write(
        &roles,
        "busybox\tworld\ndocker-engine\tdocker\npython3\tcarried\n",
    );
    let sizes = dir.path("sizes");
    write(
        &sizes,
        "busybox-1.37.0-r18\t519999\ndocker-engine-28.3.3-r1\t20999999\npython3-3.12.11-r0\t13999999\n",
    );
    let out = lib_sh("package_table", &[&db, &roles, &sizes]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        text(&out.stdout),
        "busybox\t1.37.0-r18\tworld\t519999\t950000\n\
         docker-engine\t28.3.3-r1\tdocker\t20999999\t76000000\n\
         python3\t3.12.11-r0\tcarried\t13999999\t60000000\n"
    );
    // A package nothing accounts for is an error, not a zero.
    write(&roles, "busybox\tworld\ndocker-engine\tdocker\n");
    let out = lib_sh("package_table", &[&db, &roles, &sizes]);
    assert_exit(&out, 1, "python3-3.12.11-r0: no role");
}

/// A synthetic repository whose packages.tsv claims `docker_mb` MB of
/// Docker packages and installed sizes that sum to `installed_mib`.
fn repo_with_table(dir: &TempDir, docker_mb: u64, installed_mib: u64) -> std::path::PathBuf {
    let repo = synthetic_repo(dir, "armhf");
    let mut tsv = String::new();
    let world = installed_mib * 1_048_576 - if docker_mb > 0 { 200 << 20 } else { 0 };
    for i in 0..11u64 {
        tsv.push_str(&format!(
            "pkg{i}\t1.{i}-r0\tworld\t{}\t{}\n",
            (i + 1) * 100_000,
            world / 11
        ));
    }
    if docker_mb > 0 {
        tsv.push_str(&format!(
            "docker-engine\t28.3.3-r1\tdocker\t{}\t{}\n",
            docker_mb * 1_000_000,
            200u64 << 20
        ));
    }
    tsv.push_str("python3\t3.12.11-r0\tcarried\t14000000\t60000000\n");
    write(&repo.join("packages.tsv"), tsv);
    repo
}

fn build_pi(dir: &TempDir, repo: &Path, free_mb: u32, strict: &str) -> (Output, String) {
    let inputs = Inputs::new(dir);
    let base = synthetic_rpi_release(dir);
    let free = free_mb.to_string();
    let out = build_os_image(
        &inputs,
        dir,
        "armhf",
        "target",
        &base,
        repo,
        &[
            ("IMG_FREE_MB", &free),
            ("COMPRESS", "none"),
            ("RCCR_SIZE_STRICT", strict),
        ],
    );
    let report = fs::read_to_string(dir.path("out/rccr-9.9.9-armhf-target.img.sizes.md"))
        .unwrap_or_default();
    (out, report)
}

/// The smallest Pi release build-os-image.sh accepts for armhf.
fn synthetic_rpi_release(dir: &TempDir) -> std::path::PathBuf {
    let rel = dir.path("rpi");
    write(
        &rel.join("config.txt"),
        "[pi0]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[pi1]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\ninclude usercfg.txt\n",
    );
    write(&rel.join("cmdline.txt"), "modules=loop quiet\n");
    write(&rel.join("boot/vmlinuz-rpi"), vec![b'k'; 3_000_000]);
    write(&rel.join("boot/initramfs-rpi"), vec![b'i'; 2_000_000]);
    write(&rel.join("boot/modloop-rpi"), vec![b'm'; 1_000_000]);
    let tarball = dir.path("alpine-rpi-3.22.2-armhf.tar.gz");
    tar_gz(&rel, &tarball);
    tarball
}

#[test]
fn the_size_report_and_the_budget() {
    if !require(
        "size report",
        &[
            ("fakeroot", "fakeroot"),
            ("sfdisk", "fdisk"),
            ("mkfs.vfat", "dosfstools"),
            ("mcopy", "mtools"),
        ],
    ) {
        return;
    }
    // Within budget: 300 MiB installed -> a RAM root of 2 x (300 + 64).
    let dir = TempDir::new("size-ok");
    let repo = repo_with_table(&dir, 50, 300);
    let (out, report) = build_pi(&dir, &repo, 16, "1");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        report.starts_with("### rccr-9.9.9-armhf-target.img\n"),
        "{report}"
    );
    assert_has(&report, "| kernel, initramfs, modloop | 6.0 |");
    assert_has(&report, "| packages (rccr-apks/, 13) | ");
    assert_has(
        &report,
        "| of which Docker's (1 packages only Docker needs) | 50.0 |",
    );
    assert_has(&report, "| of which carried, not installed (1) | 14.0 |");
    assert!(
        report.contains("Budget: ") && report.contains("within the target budget of 100 MB"),
        "{report}"
    );
    assert_has(
        &report,
        "Minimum RAM: 728 MiB (fits 1024 MB): the installed packages take 300 MiB",
    );
    let table: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("| package |"))
        .skip(2)
        .collect();
    assert_eq!(table.len(), 10, "{report}");
    assert!(
        table[0].starts_with("| docker-engine | 28.3.3-r1 | docker | 50.0 |"),
        "{report}"
    );
    assert!(table[1].starts_with("| python3 |"), "{report}");
    assert!(table[2].starts_with("| pkg10 |"), "{report}");
    assert!(!report.contains("| pkg0 |"), "the smallest shown: {report}");

    // Over the budget (an image of ~105 MB before xz), but by less than
    // Docker's packages: built, and the report says why.
    let dir = TempDir::new("size-docker");
    let repo = repo_with_table(&dir, 50, 300);
    let (out, report) = build_pi(&dir, &repo, 100, "1");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        report.contains("over the target budget of 100 MB by ")
            && report.contains("with Docker on board: Docker's packages alone take 50.0 MB"),
        "{report}"
    );

    // Over the budget with no Docker to explain it: refused.
    let dir = TempDir::new("size-over");
    let repo = repo_with_table(&dir, 0, 40);
    let (out, report) = build_pi(&dir, &repo, 100, "1");
    assert_exit(&out, 1, "over the target budget of 100 MB by");
    assert_has(&report, "Minimum RAM: 208 MiB (fits 256 MB)");
    assert!(
        !dir.path("out/rccr-9.9.9-armhf-target.img").exists(),
        "an image was kept"
    );
    // RCCR_SIZE_STRICT=0 builds it with a warning.
    let dir = TempDir::new("size-over-lax");
    let repo = repo_with_table(&dir, 0, 40);
    let (out, _) = build_pi(&dir, &repo, 100, "0");
    assert_exit(&out, 0, "WARNING: rccr-9.9.9-armhf-target.img: over:");
}
