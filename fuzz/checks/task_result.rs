//! Result files `lagrange-node verify` reads (JSON). What parses must write back to JSON
//! that parses to the same statements.
use lagrange_circuits::family::TaskResult;

pub fn check(data: &[u8]) {
    if let Ok(result) = TaskResult::from_json(data) {
        let again = TaskResult::from_json(&result.to_json().expect("a result writes"))
            .expect("a written result parses");
        assert_eq!(again.circuit(), result.circuit());
        assert_eq!(
            again.statements().map(|s| s.len()).ok(),
            result.statements().map(|s| s.len()).ok()
        );
    }
}
