//! Fuzzes the walk over a recording file (ftyp, moov, then prft/moof/mdat fragments) that crash
//! recovery cuts files back with. A file of any content must give a scan, never a panic, a read past
//! its end or a huge allocation; what the scan keeps must lie inside the file, in order.
#![no_main]

use camward_record::scan::scan_from;
use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let path = Path::new("fuzz.mp4");
    // In memory every read succeeds as long as the walk stays inside the file.
    let shallow = scan_from(Cursor::new(data), len, path, false).expect("in-memory scan");
    let deep = scan_from(Cursor::new(data), len, path, true).expect("in-memory scan");
    for s in [&shallow, &deep] {
        assert!(s.valid_len <= len);
        let mut end = s.init.as_ref().map_or(0, |i| i.len() as u64);
        for f in &s.fragments {
            assert!(f.offset >= end && f.offset <= f.moof_offset);
            assert!(f.moof_offset + f.moof_len <= f.mdat_offset && f.mdat_offset < f.end);
            end = f.end;
        }
        assert!(end <= len);
        if !s.fragments.is_empty() {
            assert_eq!(s.valid_len, end);
        }
        let _ = (s.frames(), s.duration(), s.span());
    }
    // The deep walk checks more, so it keeps a prefix of what the shallow walk keeps.
    assert!(deep.fragments.len() <= shallow.fragments.len());
    assert_eq!(
        deep.fragments[..],
        shallow.fragments[..deep.fragments.len()]
    );
});
