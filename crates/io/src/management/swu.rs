//! A minimal SWUpdate `.swu` writer: a newc ("crc" variant, magic `070702`)
//! cpio archive whose first entry is `sw-description` (libconfig), followed
//! by the payload files and the `TRAILER!!!` entry.
//!
//! goosebit accepts only SWUpdate or RAUC images: it reads the first cpio
//! entry, parses `software.version` and any `hardware-compatibility` lists
//! from it, and serves the whole `.swu` as the deployment's single artifact.
//! A campaign's files are wrapped here so that devices download the `.swu`
//! (which contains them). SWUpdate's own reader checks the same layout:
//! 110-byte ASCII-hex headers, names and data padded to 4 bytes, the `crc`
//! field the byte sum of the data.

use sha2::{Digest, Sha256};

/// One file to put into the archive.
#[derive(Clone, Debug)]
pub struct SwuFile<'a> {
    /// Name inside the archive (and in `sw-description`).
    pub name: &'a str,
    /// Contents.
    pub bytes: &'a [u8],
}

/// What `sw-description` says.
#[derive(Clone, Debug)]
pub struct SwuDescription<'a> {
    /// `software.version` (goosebit requires a semantic version, e.g. `2.0.0`).
    pub version: &'a str,
    /// `software.description`.
    pub description: &'a str,
    /// `software.hardware-compatibility`; empty = omitted, which goosebit
    /// reads as compatible with board `default`, revision `default`.
    pub hardware_compatibility: &'a [&'a str],
}

/// Why an archive cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SwuError {
    /// A name cannot be stored (empty, a path, a NUL, or `sw-description`/the trailer).
    #[error("cannot put `{0}` into a .swu: names must be plain, non-empty file names")]
    BadName(String),
    /// A file is larger than a newc header can describe (4 GiB).
    #[error("`{0}` is too large for a cpio newc archive (4 GiB limit)")]
    TooLarge(String),
}

/// The libconfig text of `sw-description` for `files`.
pub fn sw_description(desc: &SwuDescription<'_>, files: &[SwuFile<'_>]) -> String {
    let mut s = String::from("software =\n{\n");
    s.push_str(&format!("\tversion = {};\n", quote(desc.version)));
    s.push_str(&format!("\tdescription = {};\n", quote(desc.description)));
    if !desc.hardware_compatibility.is_empty() {
        let list: Vec<String> = desc
            .hardware_compatibility
            .iter()
            .map(|r| quote(r))
            .collect();
        s.push_str(&format!(
            "\thardware-compatibility: [ {} ];\n",
            list.join(", ")
        ));
    }
    s.push_str("\timages: (\n");
    for (i, f) in files.iter().enumerate() {
        let sha = hex::encode(Sha256::digest(f.bytes));
        s.push_str(&format!(
            "\t\t{{\n\t\t\tfilename = {};\n\t\t\ttype = \"raw\";\n\t\t\tdevice = \"/dev/null\";\n\t\t\tsha256 = \"{sha}\";\n\t\t}}{}\n",
            quote(f.name),
            if i + 1 < files.len() { "," } else { "" }
        ));
    }
    s.push_str("\t);\n};\n");
    s
}

/// A libconfig string literal.
fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check_name(name: &str) -> Result<(), SwuError> {
    let bad = name.is_empty()
        || name.contains(['/', '\0', '\n'])
        || name == "."
        || name == ".."
        || name == "sw-description"
        || name == "TRAILER!!!";
    if bad {
        Err(SwuError::BadName(name.to_string()))
    } else {
        Ok(())
    }
}

/// Builds the `.swu`: `sw-description`, then `files` in order, then the trailer.
pub fn build(desc: &SwuDescription<'_>, files: &[SwuFile<'_>]) -> Result<Vec<u8>, SwuError> {
    for f in files {
        check_name(f.name)?;
        if u32::try_from(f.bytes.len()).is_err() {
            return Err(SwuError::TooLarge(f.name.to_string()));
        }
    }
    let text = sw_description(desc, files);
    let total: usize = files.iter().map(|f| f.bytes.len() + 256).sum::<usize>() + text.len() + 512;
    let mut out = Vec::with_capacity(total);
    let mut ino = 1u32;
    entry(&mut out, ino, "sw-description", text.as_bytes(), 0o100644);
    for f in files {
        ino += 1;
        entry(&mut out, ino, f.name, f.bytes, 0o100644);
    }
    entry(&mut out, 0, "TRAILER!!!", &[], 0);
    Ok(out)
}

/// Appends one newc-crc entry. Sizes were checked by the caller.
fn entry(out: &mut Vec<u8>, ino: u32, name: &str, data: &[u8], mode: u32) {
    let checksum = data
        .iter()
        .fold(0u32, |acc, b| acc.wrapping_add(u32::from(*b)));
    let nlink = 1u32;
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: fixed, so that the archive is reproducible
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        checksum,
    ];
    out.extend_from_slice(b"070702");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of what [`build`] writes, following the newc rules.
    fn entries(mut a: &[u8]) -> Vec<(String, Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        loop {
            assert_eq!(&a[..6], b"070702", "magic at {pos}");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (size, namesize, check) = (field(6) as usize, field(11) as usize, field(12));
            let name = std::str::from_utf8(&a[110..110 + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(a[110 + namesize - 1], 0, "name is NUL-terminated");
            let data_at = (110 + namesize).div_ceil(4) * 4;
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).div_ceil(4) * 4;
            pos += next;
            a = &a[next..];
            let done = name == "TRAILER!!!";
            out.push((name, data, check));
            if done {
                assert!(a.is_empty(), "nothing after the trailer");
                return out;
            }
        }
    }

    #[test]
    fn archive_is_description_then_files_then_trailer() {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let desc = SwuDescription {
            version: "2.0.0",
            description: "fleetsim \"fw\"",
            hardware_compatibility: &[],
        };
        let swu = build(
            &desc,
            &[
                SwuFile {
                    name: "fw.bin",
                    bytes: &payload,
                },
                SwuFile {
                    name: "odd",
                    bytes: b"abc",
                },
            ],
        )
        .unwrap();
        assert_eq!(swu.len() % 4, 0);
        let e = entries(&swu);
        let names: Vec<&str> = e.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["sw-description", "fw.bin", "odd", "TRAILER!!!"]);
        assert_eq!(e[1].1, payload);
        assert_eq!(e[2].1, b"abc");
        let sum = payload.iter().map(|b| u32::from(*b)).sum::<u32>();
        assert_eq!(e[1].2, sum, "crc field is the byte sum");
        let text = String::from_utf8(e[0].1.clone()).unwrap();
        assert!(text.contains("version = \"2.0.0\";"), "{text}");
        assert!(text.contains("description = \"fleetsim \\\"fw\\\"\";"));
        assert!(text.contains("filename = \"fw.bin\";"));
        assert!(text.contains(&hex::encode(Sha256::digest(&payload))));
        assert!(!text.contains("hardware-compatibility"));
    }

    #[test]
    fn goosebit_reads_the_size_and_name_where_it_expects_them() {
        // goosebit: size = header[54:62] (hex), name up to NUL, then 3 pad
        // bytes before the sw-description text.
        let desc = SwuDescription {
            version: "1.0.1",
            description: "d",
            hardware_compatibility: &["1.0", "2"],
        };
        let swu = build(
            &desc,
            &[SwuFile {
                name: "a",
                bytes: b"x",
            }],
        )
        .unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&swu[54..62]).unwrap(), 16).unwrap();
        assert_eq!(&swu[110..124], b"sw-description");
        assert_eq!(&swu[124..128], &[0, 0, 0, 0]);
        let text = std::str::from_utf8(&swu[128..128 + size]).unwrap();
        assert!(text.starts_with("software =\n{\n\tversion = \"1.0.1\";"));
        assert!(text.contains("hardware-compatibility: [ \"1.0\", \"2\" ];"));
    }

    #[test]
    fn bad_names_are_refused() {
        let desc = SwuDescription {
            version: "1.0.0",
            description: "",
            hardware_compatibility: &[],
        };
        for name in ["", "a/b", "sw-description", "TRAILER!!!", ".."] {
            assert_eq!(
                build(&desc, &[SwuFile { name, bytes: b"" }]),
                Err(SwuError::BadName(name.to_string()))
            );
        }
    }

    #[test]
    fn same_input_same_bytes() {
        let desc = SwuDescription {
            version: "1.0.0",
            description: "x",
            hardware_compatibility: &[],
        };
        let f = [SwuFile {
            name: "f",
            bytes: b"12345",
        }];
        assert_eq!(build(&desc, &f).unwrap(), build(&desc, &f).unwrap());
    }
}
