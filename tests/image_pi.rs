//! build-os-image.sh on Raspberry Pi media: image assembly against a
//! synthetic Pi release (partition table, FAT contents, boot flag,
//! config.txt).
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

// ---------------------------------------------------------------------- IMG

/// A stand-in for alpine-rpi-*.tar.gz: firmware, config.txt with per-Pi
/// sections, kernel, initramfs, modloop, device trees, apks/.
fn synthetic_rpi(dir: &TempDir, config: &str, alpine_arch: &str) -> PathBuf {
    synthetic_rpi_with(dir, config, alpine_arch, &[])
}

/// [`synthetic_rpi`] with the `extra` files (device trees) at its root.
fn synthetic_rpi_with(dir: &TempDir, config: &str, alpine_arch: &str, extra: &[&str]) -> PathBuf {
    let rel = dir.path("rpi");
    for f in extra {
        write(&rel.join(f), format!("firmware {f}"));
    }
    write(&rel.join("config.txt"), config);
    write(
        &rel.join("cmdline.txt"),
        "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1\n",
    );
    for f in [
        "bootcode.bin",
        "start.elf",
        "fixup.dat",
        "bcm2708-rpi-zero.dtb",
        "bcm2708-rpi-b.dtb",
    ] {
        write(&rel.join(f), format!("firmware {f}"));
    }
    write(&rel.join("overlays/disable-bt.dtbo"), "overlay");
    for f in ["vmlinuz-rpi", "initramfs-rpi", "modloop-rpi"] {
        write(&rel.join("boot").join(f), format!("{f} bytes"));
    }
    write(&rel.join("apks/.boot_repository"), "");
    write(
        &rel.join(format!("apks/{alpine_arch}/APKINDEX.tar.gz")),
        "alpine's index",
    );
    write(&rel.join(".alpine-release"), "alpine-rpi-3.22.2 armhf\n");
    let tarball = dir.path("alpine-rpi-3.22.2-armhf.tar.gz");
    tar_gz(&rel, &tarball);
    tarball
}

const PI_ZERO_CONFIG: &str = "\
# do not modify this file as it will be overwritten on upgrade.
# create and/or modify usercfg.txt instead.
disable_splash=1
boot_delay=0
[pi0]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[pi1]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[all]
include usercfg.txt
";

fn img_tools(test: &str) -> bool {
    overlay_tools(test)
        && require(
            test,
            &[
                ("sfdisk", "fdisk"),
                ("mkfs.vfat", "dosfstools"),
                ("mcopy", "mtools"),
                ("xz", "xz-utils"),
            ],
        )
}

/// The armhf image of `ty` from a Pi Zero release and a synthetic
/// repository, built into `dir/out` (asserting success) when the tools are
/// there (`what` names the test, `tag` its scratch directory): the scratch
/// directory, the inputs, the release, the repository and the build's
/// output.
fn built_pi_zero(
    what: &str,
    tag: &str,
    ty: &str,
) -> Option<(TempDir, Inputs, PathBuf, PathBuf, std::process::Output)> {
    let (dir, inputs) = inputs_when(img_tools(what), tag)?;
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "armhf");
    let out = build_os_image(&inputs, &dir, "armhf", ty, &base, &repo, &[]);
    assert!(out.status.success(), "{}", show(&out));
    Some((dir, inputs, base, repo, out))
}

/// build-os-image.sh's armhf target image of the release `base`, with the
/// repository `repo` and these environment variables.
fn armhf_target(
    inputs: &Inputs,
    dir: &TempDir,
    base: &std::path::Path,
    repo: impl AsRef<std::ffi::OsStr>,
    env: &[(&str, &str)],
) -> std::process::Output {
    build_os_image(inputs, dir, "armhf", "target", base, repo, env)
}

#[test]
fn pi_image_is_one_bootable_fat_partition_holding_the_release_and_the_overlay() {
    let (dir, _, _, _, out) = or_skip!(built_pi_zero("Pi image", "img", "control"));
    let stderr = text(&out.stderr);
    assert_has(
        &stderr,
        "[pi0] boots boot/vmlinuz-rpi with boot/initramfs-rpi",
    );
    assert_has(&stderr, "[pi1] boots boot/vmlinuz-rpi");
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path("out")));
    let img = dir.path("pi.img");
    let raw = ok(Command::new("xz")
        .arg("-dc")
        .arg(dir.path("out/rccr-9.9.9-armhf-control.img.xz")));
    fs::write(&img, &raw.stdout).unwrap();

    // MBR with one bootable partition of type 0x0c from 1 MiB to the end
    // (Raspberry Pi OS's own images use that type for FAT16 and FAT32).
    let json = text(&ok(Command::new("sfdisk").arg("--json").arg(&img)).stdout);
    let squeezed: String = json.split_whitespace().collect();
    assert!(squeezed.contains("\"label\":\"dos\""), "{json}");
    assert_eq!(squeezed.matches("\"node\":").count(), 1, "{json}");
    assert!(squeezed.contains("\"start\":2048,"), "{json}");
    assert!(squeezed.contains("\"type\":\"c\""), "{json}");
    assert!(squeezed.contains("\"bootable\":true"), "{json}");
    let size: u64 = squeezed
        .split("\"size\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (2048 + size) * 512,
        fs::metadata(&img).unwrap().len(),
        "the partition does not fill the image"
    );
    let dump = text(&ok(Command::new("sfdisk").arg("--dump").arg(&img)).stdout);
    assert_has(&dump, "type=c, bootable");
    // It ends on a 4 MiB boundary: the node's data partition starts there,
    // in the card's free space.
    assert_eq!((2048 + size) % 8192, 0, "{json}");

    // A FAT filesystem at the partition, holding everything: FAT16 at this
    // size, with Raspberry Pi OS's 2 KiB clusters.
    let part = format!("{}@@1M", img.display());
    let info = text(&ok(mtools("minfo").args(["-i", &part, "::"])).stdout);
    assert!(size * 512 < 134_742_016, "{size}");
    assert_has(&info, "FAT16");
    assert_has(&info, "hidden sectors: 2048\n");
    assert_has(&info, "cluster size: 4 sectors\n");
    assert_has(&info, "RCCR-BOOT");
    let files = text(&ok(mtools("mdir").args(["-i", &part, "-/", "-b", "::/"])).stdout);
    let on_the_fat = [
        "::/config.txt",
        "::/cmdline.txt",
        "::/usercfg.txt",
        "::/bootcode.bin",
        "::/start.elf",
        "::/fixup.dat",
        "::/bcm2708-rpi-zero.dtb",
        "::/overlays/disable-bt.dtbo",
        "::/boot/vmlinuz-rpi",
        "::/boot/initramfs-rpi",
        "::/boot/modloop-rpi",
        "::/.alpine-release",
        "::/rccr.apkovl.tar.gz",
        "::/rccr-apks/.boot_repository",
        "::/rccr-apks/armhf/APKINDEX.tar.gz",
        "::/rccr-apks/armhf/openssh-server-10.0_p1-r9.apk",
    ];
    assert_lines(&files, "the FAT", on_the_fat);
    // Alpine's own repository is left out: ours holds everything.
    assert!(!files.contains("::/apks"), "{files}");
    let get = |path: &str| {
        let to = dir.path("got");
        let _ = fs::remove_file(&to);
        ok(mtools("mcopy").args(["-n", "-i", &part, path]).arg(&to));
        fs::read(&to).unwrap()
    };
    assert_eq!(get("::/config.txt"), PI_ZERO_CONFIG.as_bytes());
    // Pi kernels disable the memory cgroup unless cmdline.txt enables it.
    assert_eq!(
        text(&get("::/cmdline.txt")),
        "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1 cgroup_enable=memory\n"
    );
    assert_eq!(get("::/boot/vmlinuz-rpi"), b"vmlinuz-rpi bytes");
    assert!(text(&get("::/usercfg.txt")).starts_with("# RCCR 9.9.9 (armhf control)"));
    let ovl = dir.path("ovl.tar.gz");
    fs::write(&ovl, get("::/rccr.apkovl.tar.gz")).unwrap();
    let list = listing(&ovl);
    assert_eq!(list["root/.ssh/id_rsa"].mode, "-rw-------");
    assert!(list.contains_key("etc/apk/keys/rccr-apks-test.rsa.pub"));
    let root = dir.path("x");
    extract(&ovl, &root);
    let lbu = fs::read_to_string(root.join("etc/lbu/lbu.conf")).unwrap();
    assert_has(&lbu, "\nLBU_MEDIA=mmcblk0p1\n");

    // The size report, next to the image.
    let report = fs::read_to_string(dir.path("out/rccr-9.9.9-armhf-control.img.sizes.md")).unwrap();
    assert_has(&report, "| total, before xz |");
    assert_has(&report, "Budget: ");
}

#[test]
fn pi_image_cmdline_enables_the_memory_cgroup_once_on_one_line() {
    let (dir, inputs) = or_skip!(inputs_when(img_tools("Pi cmdline.txt"), "img-cmdline"));
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    // A release that already asks for it, with a CR, trailing blanks and a
    // second line (the firmware reads the first line only).
    write(
        &dir.path("rpi/cmdline.txt"),
        "quiet cgroup_enable=memory console=tty1 \t\r\nignored=1\n",
    );
    tar_gz(&dir.path("rpi"), &base);
    let out = armhf_target(&inputs, &dir, &base, "none", &[("COMPRESS", "none")]);
    assert!(out.status.success(), "{}", show(&out));
    let part = format!(
        "{}@@1M",
        dir.path("out/rccr-9.9.9-armhf-target.img").display()
    );
    let cmdline = text(&ok(mtools("mtype").args(["-i", &part, "::/cmdline.txt"])).stdout);
    assert_eq!(cmdline, "quiet cgroup_enable=memory console=tty1\n");
}

/// The FAT type and cluster size pi-gen (Raspberry Pi OS's image builder,
/// export-image/prerun.sh) gives a boot partition: FAT16 below 134742016
/// bytes, FAT32 above, 4 sectors per cluster.
#[test]
fn pi_image_fat_follows_raspberry_pi_os_above_128_mib() {
    let (dir, inputs) = or_skip!(inputs_when(img_tools("Pi image FAT32"), "img-fat32"));
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "control",
        &base,
        "none",
        &[("IMG_FREE_MB", "130"), ("COMPRESS", "none")],
    );
    assert!(out.status.success(), "{}", show(&out));
    let img = dir.path("out/rccr-9.9.9-armhf-control.img");
    let len = fs::metadata(&img).unwrap().len();
    assert!(len - 1_048_576 >= 134_742_016, "{len}");
    assert_eq!(len % (4 << 20), 0, "{len}");
    let part = format!("{}@@1M", img.display());
    let info = text(&ok(mtools("minfo").args(["-i", &part, "::"])).stdout);
    assert_has(&info, "FAT32");
    assert_has(&info, "cluster size: 4 sectors\n");
}

#[test]
fn pi_image_refuses_a_release_that_cannot_boot_its_pis() {
    let (_inputs_dir, inputs) = or_skip!(inputs_when(img_tools("Pi image refusals"), "img-refuse"));
    // A release with this config.txt is refused, saying `why`.
    let refused = |tag: &str, config: &str, why: &str| {
        let dir = TempDir::new(tag);
        let base = synthetic_rpi(&dir, config, "armhf");
        let out = build_os_image(&inputs, &dir, "armhf", "target", &base, "none", &[]);
        assert_exit(&out, 1, why);
    };
    // A Pi 3-only config: the armhf image must boot a Pi Zero and a Pi 1.
    let pi3_only = "[pi3]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\ninclude usercfg.txt\n";
    refused(
        "img-refuse-pi3",
        pi3_only,
        "names no kernel and initramfs for [pi0]",
    );

    // A Pi 2/3-only config: the armv7 image must also boot a Pi Zero 2 W,
    // whose firmware reads [pi02] sections, not [pi3] ones.
    let dir = TempDir::new("img-refuse-pi02");
    let pi23_only = "[pi2]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[pi3]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\ninclude usercfg.txt\n";
    let base = synthetic_rpi(&dir, pi23_only, "armv7");
    let out = build_os_image(&inputs, &dir, "armv7", "target", &base, "none", &[]);
    assert_exit(&out, 1, "names no kernel and initramfs for [pi02]");

    // A Zero 2 W also reads [pi0w] sections (Raspberry Pi's config.txt
    // documentation, "Model Filters"): one that names a kernel the release
    // lacks stops the armv7 image, whose [pi0] section alone would boot.
    let dir = TempDir::new("img-refuse-pi0w");
    let pi0w_missing = format!(
        "{pi23_only}[pi0]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[pi0w]\nkernel=boot/vmlinuz-rpi0w\n[all]\n"
    );
    let base = synthetic_rpi(&dir, &pi0w_missing, "armv7");
    let out = build_os_image(&inputs, &dir, "armv7", "target", &base, "none", &[]);
    assert_exit(
        &out,
        1,
        "config.txt: [pi02] boots boot/vmlinuz-rpi0w, which the release lacks",
    );

    // A filter that is not a model's ([HDMI:0], [EDID=...], [gpio4=1], ...)
    // holds on some boards: its kernel= line counts.
    refused(
        "img-refuse-hdmi",
        &format!("{PI_ZERO_CONFIG}[HDMI:0]\nkernel=boot/vmlinuz-hdmi\n[all]\n"),
        "config.txt: [pi0] boots boot/vmlinuz-hdmi, which the release lacks",
    );

    // A kernel that config.txt names but the release lacks.
    let missing = PI_ZERO_CONFIG.replace("kernel=boot/vmlinuz-rpi", "kernel=boot/vmlinuz-rpi2");
    refused(
        "img-refuse-kernel",
        &missing,
        "boots boot/vmlinuz-rpi2, which the release lacks",
    );

    // The repository must be for the image's arch.
    let dir = TempDir::new("img-refuse-repo");
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "aarch64");
    let out = build_os_image(&inputs, &dir, "armhf", "target", &base, &repo, &[]);
    assert_exit(&out, 1, "packages for another arch");
}

/// Alpine's aarch64 Pi config.txt since the Pi 5 (aports
/// scripts/mkimg.arm.sh, rpi_gen_config: one kernel for every Pi, no
/// model sections).
const AARCH64_CONFIG: &str = "\
# do not modify this file as it will be overwritten on upgrade.
# create and/or modify usercfg.txt instead.
# https://www.raspberrypi.com/documentation/computers/config_txt.html

kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
arm_64bit=1
include usercfg.txt
";

#[test]
fn the_rpi_aarch64_image_boots_a_pi_5_or_refuses_a_release_that_cannot() {
    let (_inputs_dir, inputs) = or_skip!(inputs_when(img_tools("Pi 5 image"), "img-pi5"));
    let build = |tag: &str, config: &str, extra: &[&str]| {
        let dir = TempDir::new(tag);
        let base = synthetic_rpi_with(&dir, config, "aarch64", extra);
        build_os_image(&inputs, &dir, "rpi-aarch64", "target", &base, "none", &[])
    };
    let out = build("img-pi5", AARCH64_CONFIG, &BCM2712_TREES);
    assert!(out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    for model in ["pi3", "pi4", "pi02", "pi5"] {
        assert_has(
            &stderr,
            &format!("[{model}] boots boot/vmlinuz-rpi with boot/initramfs-rpi"),
        );
    }
    assert!(!stderr.contains(" has no "), "{stderr}");
    // Without the Pi 5's device tree its firmware has nothing to boot;
    // without the D0 overlay a Pi 5 of that stepping (every 2 GB and
    // 16 GB one) boots the C0 tree and panics.
    for (gone, board) in [
        ("bcm2712-rpi-5-b.dtb", "a Raspberry Pi 5"),
        (
            "overlays/bcm2712d0.dtbo",
            "a Raspberry Pi 5 of the BCM2712 D0 stepping",
        ),
    ] {
        let kept: Vec<&str> = BCM2712_TREES.into_iter().filter(|f| *f != gone).collect();
        let out = build("img-pi5-no-dtb", AARCH64_CONFIG, &kept);
        assert_exit(&out, 1, &format!("no {gone}: it cannot boot {board}"));
    }
    // The Pi 500's and the CM5's own trees: a warning each, the Pi 5
    // boots all the same.
    let out = build("img-pi5-only", AARCH64_CONFIG, &BCM2712_TREES[..2]);
    assert!(out.status.success(), "{}", show(&out));
    for f in &BCM2712_TREES[2..] {
        assert_has(
            &text(&out.stderr),
            &format!("WARNING: alpine-rpi-3.22.2-armhf.tar.gz has no {f}: it cannot boot a "),
        );
    }
    // An older release's config.txt, with sections for the Pi 3, 4 and
    // Zero 2 W only: nothing for a Pi 5 to boot.
    let sections = "[pi02]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[pi3]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[pi4]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\narm_64bit=1\ninclude usercfg.txt\n";
    let out = build("img-pi5-old", sections, &BCM2712_TREES);
    assert_exit(&out, 1, "names no kernel and initramfs for [pi5]");
}

/// The device trees of the BCM2712 boards that a release for them carries:
/// the Pi 5's and its D0 overlay (required), then the Pi 500's and the
/// CM5's (a warning each when missing).
const BCM2712_TREES: [&str; 7] = [
    "bcm2712-rpi-5-b.dtb",
    "overlays/bcm2712d0.dtbo",
    "bcm2712-rpi-500.dtb",
    "bcm2712-rpi-cm5-cm5io.dtb",
    "bcm2712-rpi-cm5l-cm5io.dtb",
    "bcm2712-rpi-cm5-cm4io.dtb",
    "bcm2712-rpi-cm5l-cm4io.dtb",
];

/// gpg in a home of its own under `dir`.
fn gpg(home: &std::path::Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--batch").arg("--homedir").arg(home);
    c
}

#[test]
fn a_downloaded_pi_release_is_used_only_with_a_good_signature_by_the_pinned_key() {
    let (dir, inputs) = or_skip!(inputs_when(
        img_tools("signed media") && require("signed media", &[("gpg", "gpg")]),
        "img-signed",
    ));
    let home = dir.path("gnupg");
    fs::create_dir_all(&home).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    ok(gpg(&home).args([
        "--passphrase",
        "",
        "--pinentry-mode",
        "loopback",
        "--quick-gen-key",
        "RCCR test release key <test@rccr.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    let fpr = text(&ok(gpg(&home).args(["--with-colons", "--list-keys"])).stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .unwrap();
    let key = dir.path("release-key.asc");
    fs::write(
        &key,
        ok(gpg(&home).args(["--armor", "--export", &fpr])).stdout,
    )
    .unwrap();

    // A mirror laid out as Alpine's: the tarball, its .sha256 and its .asc.
    let version = alpine_conf("ALPINE_VERSION");
    let name = format!("alpine-rpi-{version}-armhf.tar.gz");
    let releases = dir.path(&format!(
        "mirror/{}/releases/armhf",
        alpine_conf("ALPINE_BRANCH")
    ));
    fs::create_dir_all(&releases).unwrap();
    let tarball = releases.join(&name);
    let publish = |content: &[u8], sign: bool| {
        fs::write(&tarball, content).unwrap();
        write(
            &releases.join(format!("{name}.sha256")),
            format!("{}  {name}\n", sha256(&tarball)),
        );
        let asc = releases.join(format!("{name}.asc"));
        let _ = fs::remove_file(&asc);
        if sign {
            ok(gpg(&home)
                .args(["--armor", "--detach-sign", "--output"])
                .arg(&asc)
                .arg(&tarball));
        }
    };
    let build = |fpr: &str, out: &str| {
        inputs
            .command(&dir, &script("build-os-image.sh"))
            .env(
                "ALPINE_MIRROR",
                format!("file://{}", dir.path("mirror").display()),
            )
            .env("CACHE_DIR", dir.path("cache"))
            .env("RCCR_RELEASE_KEY", &key)
            .env("RCCR_RELEASE_KEY_FPR", fpr)
            .env("RCCR_APK_REPO", "none")
            .env("COMPRESS", "none")
            .args(["-v", "9.9.9", "-o"])
            .arg(dir.path(out))
            .args(["armhf", "target"])
            .output()
            .unwrap()
    };
    let release = fs::read(synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf")).unwrap();

    publish(&release, true);
    let out = build(&fpr, "good");
    assert_exit(&out, 0, &format!("good signature by {fpr}"));

    // Swapped on the mirror, sum and all, but not re-signed.
    let mut swapped = release.clone();
    swapped.extend_from_slice(b"\0");
    let sig = fs::read(releases.join(format!("{name}.asc"))).unwrap();
    publish(&swapped, false);
    fs::write(releases.join(format!("{name}.asc")), &sig).unwrap();
    let out = build(&fpr, "swapped");
    assert_exit(&out, 1, "does not verify: refusing to use it");
    assert!(!dir.path("swapped").exists(), "an image was made");

    // No signature published.
    publish(&release, false);
    let out = build(&fpr, "unsigned");
    assert_exit(&out, 1, "download failed");

    // Signed, but the key file is not the pinned key.
    publish(&release, true);
    let alpine = alpine_conf("ALPINE_KEY_FINGERPRINT");
    let out = build(&alpine, "other-key");
    assert_exit(&out, 1, &format!("but the pinned release key is {alpine}"));
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "all"])
        .status();
}

/// A failing xz (a full disk, say) fails the build, keeps the image of the
/// earlier run and leaves no `.xz.tmp` beside it: the earlier image used to
/// be deleted before xz ran, and its partial output stayed in the output
/// directory, which cleanup does not sweep.
#[test]
fn a_failed_compression_keeps_the_earlier_image_and_no_partial_file() {
    let (dir, inputs, base, repo, _) =
        or_skip!(built_pi_zero("Pi image kept", "img-kept", "target"));
    let image = dir.path("out/rccr-9.9.9-armhf-target.img.xz");
    let before = fs::read(&image).unwrap();

    let xz = dir.path("failing/xz");
    write(&xz, "#!/bin/sh\necho part of an image\nexit 1\n");
    fs::set_permissions(&xz, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        xz.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let out = armhf_target(&inputs, &dir, &base, &repo, &[("PATH", &path)]);
    assert_exit(&out, 1, "xz cannot write");
    assert!(
        fs::read(&image).unwrap() == before,
        "the earlier image changed"
    );
    let left: Vec<String> = fs::read_dir(dir.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.ends_with(".tmp")), "{left:?}");
}
