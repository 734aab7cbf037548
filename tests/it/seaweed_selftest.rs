//! Self-tests of the SeaweedFS test support: the server, its bucket through boto3, and two FUSE
//! mounts of one folder behaving as two nodes sharing it. Not a test of hfdl.

use crate::support::seaweed::Seaweed;
use crate::support::sha256_hex;

#[test]
fn seaweed_serves_s3_and_mounts_one_folder_twice() {
    let weed = Seaweed::start();
    assert!(weed.s3_endpoint().starts_with("http://127.0.0.1:"));
    let env = weed.s3_env();
    assert!(
        env.iter()
            .any(|(k, v)| k == "AWS_REGION" && v == "us-east-1")
    );

    let data = b"hello from boto3";
    weed.put_object("selftest/dir/a.bin", data);
    let objects = weed.objects("selftest/");
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0].key, "selftest/dir/a.bin");
    assert_eq!(objects[0].size, data.len() as u64);
    assert_eq!(objects[0].sha256, sha256_hex(data));
    assert!(weed.objects("elsewhere/").is_empty());

    // A multipart upload left open is listed; aborted, it is gone.
    weed.boto3(
        "u = s3.create_multipart_upload(Bucket=BUCKET, Key='selftest/open.bin')\nprint(u['UploadId'])",
        &[],
    );
    assert_eq!(weed.multipart_uploads("selftest/"), ["selftest/open.bin"]);
    weed.boto3(
        "for u in s3.list_multipart_uploads(Bucket=BUCKET).get('Uploads', []):\n    \
         s3.abort_multipart_upload(Bucket=BUCKET, Key=u['Key'], UploadId=u['UploadId'])",
        &[],
    );
    assert!(weed.multipart_uploads("selftest/").is_empty());

    // Two mounts of one folder: what one writes, the other reads.
    let dir = tempfile::tempdir().unwrap();
    let one = weed.mount(&dir.path().join("node1"), "/shared");
    let two = weed.mount(&dir.path().join("node2"), "/shared");
    std::fs::create_dir_all(one.path().join("sub")).unwrap();
    std::fs::write(one.path().join("sub/file.txt"), b"written on node 1").unwrap();
    let seen = wait_for(|| std::fs::read(two.path().join("sub/file.txt")).ok());
    assert_eq!(seen, b"written on node 1");
    std::os::unix::fs::symlink("sub/file.txt", two.path().join("link")).unwrap();
    let through = wait_for(|| std::fs::read(one.path().join("link")).ok());
    assert_eq!(through, b"written on node 1");
    let mount_point = one.path().to_owned();
    drop(one);
    drop(two);
    assert!(
        !std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(mount_point.to_str().unwrap()),
        "unmounted on drop"
    );
}

/// Polls `f` for up to 10 s (a mount learns of another's writes by the filer's events).
fn wait_for<T>(f: impl Fn() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "not seen within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
