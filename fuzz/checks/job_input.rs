//! Job inputs as provers receive them: the network's own circuits' jobs and zkML slice
//! jobs. What decodes must encode to bytes that decode to the same job. Not byte for byte:
//! bincode reads integers written longer than needed, and a coprocessor job's hex text in
//! either case.
use lagrange_circuits::JobInput;
use lagrange_circuits::zkml::SliceJob;

pub fn check(data: &[u8]) {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        if let Ok(job) = JobInput::from_bytes(bytes) {
            let again = JobInput::from_bytes(&job.to_bytes()).expect("a written job reads");
            assert_eq!(again, job);
        }
    } else if let Ok(job) = SliceJob::from_bytes(bytes) {
        let again = SliceJob::from_bytes(&job.to_bytes()).expect("a written job reads");
        assert_eq!(again, job);
    }
}
