//! What the binary's client commands do: task submission and inspection over gRPC,
//! audits of auction evidence, offline checks and exports of results, and installing circom
//! circuits and zkML models into a parameter directory. (Node keys are in
//! [`crate::keyfile`].)

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lagrange_protocol::JobCategory;

use crate::api::pb::{self, gateway_client::GatewayClient, submit_task_request::Task};
use crate::circuit_workload::{Checked, check_result_file, export_snarkjs};

/// Reads `key,value` rows from a CSV file (a header line is skipped if it does not parse).
pub fn read_rows(path: &Path) -> Result<Vec<(u64, u64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once(',')
            .and_then(|(k, v)| Some((k.trim().parse().ok()?, v.trim().parse().ok()?)));
        match parsed {
            Some(row) => rows.push(row),
            None if n == 0 => continue,
            None => bail!(
                "{}:{}: expected `key,value` with unsigned integers",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(rows)
}

/// A gateway's gRPC endpoint as given: `http://host:port`, or `host:port` as the gateway
/// prints it (plain HTTP/2 is assumed).
pub fn endpoint(gateway: &str) -> String {
    if gateway.contains("://") {
        gateway.to_string()
    } else {
        format!("http://{gateway}")
    }
}

/// Connects to a gateway's API.
async fn connect(gateway: &str) -> Result<GatewayClient<tonic::transport::Channel>> {
    let url = endpoint(gateway);
    GatewayClient::connect(url.clone())
        .await
        .with_context(|| format!("connecting to the gateway at {url}"))
}

fn category(c: JobCategory) -> pb::Category {
    match c {
        JobCategory::Small => pb::Category::Small,
        JobCategory::Medium => pb::Category::Medium,
        JobCategory::Large => pb::Category::Large,
    }
}

/// What to submit.
pub enum Submission {
    /// A query over rows.
    Query {
        /// The rows.
        rows: Vec<(u64, u64)>,
        /// Lowest key.
        lo: u64,
        /// Highest key.
        hi: u64,
        /// Where the gateway delivers the result on chain, if anywhere: the QueryResults
        /// contract, and the data source the rows came from.
        deliver_to: Option<(String, Option<String>)>,
    },
    /// Synthetic proofs.
    Synthetic {
        /// How many.
        jobs: u32,
    },
    /// Proofs of a circom circuit, one per witness or set of input signals.
    Circom {
        /// The circuit, `circom/<name>`.
        circuit: String,
        /// `.wtns` files' bytes.
        witnesses: Vec<Vec<u8>>,
        /// `input.json` objects.
        inputs: Vec<String>,
    },
    /// Inferences of a zkML model.
    Zkml {
        /// The model, `zkml/<name>`.
        model: String,
        /// Real inputs, flattened.
        inputs: Vec<Vec<f32>>,
        /// The model commitment the client expects (hex), or empty.
        commitment: String,
    },
}

/// Most bytes of a zkML input file.
const MAX_INPUT_FILE: u64 = 8 << 20;

/// Reads zkML inputs from a JSON file: one flat array of numbers (one input), an array of
/// flat arrays (a batch), or ezkl's `input.json`, `{"input_data": [[...], ...]}`.
pub fn read_zkml_inputs(path: &Path) -> Result<Vec<Vec<f32>>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_INPUT_FILE {
        bail!(
            "{}: {len} bytes, more than the {MAX_INPUT_FILE} an input file may have",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_zkml_inputs(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Parses zkML inputs (see [`read_zkml_inputs`]).
pub fn parse_zkml_inputs(text: &str) -> Result<Vec<Vec<f32>>, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let value = match value {
        Value::Object(mut map) => map.remove("input_data").ok_or(
            "an object needs \"input_data\" (ezkl's input.json): [[values of input 0], ...]",
        )?,
        other => other,
    };
    let Value::Array(items) = value else {
        return Err("expected an array of numbers, or an array of such arrays".into());
    };
    let numbers = |items: &[Value], which: &str| -> Result<Vec<f32>, String> {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| format!("{which}[{i}] is {v}, not a number"))
            })
            .collect()
    };
    if items.iter().all(Value::is_array) && !items.is_empty() {
        items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                numbers(
                    item.as_array().map_or(&[], Vec::as_slice),
                    &format!("input {n}"),
                )
            })
            .collect()
    } else {
        Ok(vec![numbers(&items, "input 0")?])
    }
}

/// Submits a task; with `wait`, follows its events and writes the result to `out`.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    gateway: &str,
    supernet: &str,
    task: Submission,
    cat: JobCategory,
    max_fee_per_job: u64,
    deadline_secs: u64,
    wait: bool,
    out: Option<&Path>,
) -> Result<String> {
    let mut client = connect(gateway).await?;
    let deliver_to = match &task {
        Submission::Query {
            deliver_to: Some((contract, source)),
            ..
        } => Some(pb::Delivery {
            contract: contract.clone(),
            source: source.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    let task = match task {
        Submission::Query { rows, lo, hi, .. } => Task::Query(pb::QueryTask {
            rows: rows
                .into_iter()
                .map(|(key, value)| pb::Row { key, value })
                .collect(),
            lo,
            hi,
        }),
        Submission::Synthetic { jobs } => Task::Synthetic(pb::SyntheticTask { jobs }),
        Submission::Circom {
            circuit,
            witnesses,
            inputs,
        } => Task::Circom(pb::CircomTask {
            circuit,
            witnesses,
            inputs,
        }),
        Submission::Zkml {
            model,
            inputs,
            commitment,
        } => Task::Zkml(pb::ZkmlTask {
            model,
            inputs: inputs
                .into_iter()
                .map(|values| pb::ZkmlInput { values })
                .collect(),
            model_commitment: commitment,
        }),
    };
    let response = client
        .submit_task(pb::SubmitTaskRequest {
            supernet: supernet.into(),
            category: category(cat).into(),
            task: Some(task),
            max_fee_per_job,
            deadline_ms: deadline_secs.saturating_mul(1000),
            deliver_to,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    println!(
        "task {} stored with {} jobs",
        response.task_id, response.jobs
    );
    if wait {
        follow(&mut client, &response.task_id, out).await?;
    }
    Ok(response.task_id)
}

async fn follow(
    client: &mut GatewayClient<tonic::transport::Channel>,
    task_id: &str,
    out: Option<&Path>,
) -> Result<()> {
    let mut stream = client
        .watch_task(pb::WatchTaskRequest {
            task_id: task_id.into(),
            from_seq: 0,
            snapshot: false,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    while let Some(event) = stream
        .message()
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
    {
        let job = if event.job_id.is_empty() {
            String::new()
        } else {
            format!(" job {}", event.job_id)
        };
        println!("#{:<4} {:<15}{job} {}", event.seq, event.kind, event.detail);
    }
    show(client, task_id, out).await
}

async fn show(
    client: &mut GatewayClient<tonic::transport::Channel>,
    task_id: &str,
    out: Option<&Path>,
) -> Result<()> {
    let result = client
        .get_result(pb::GetResultRequest {
            task_id: task_id.into(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    if let Some(p) = &result.payments {
        println!(
            "token rules: {} jobs at {} fee units; client paid {}, the gateway {}, the emission \
             budget {} ({} native tokens); {} fee units bought back {} native tokens",
            p.jobs,
            p.price,
            p.client_paid,
            p.gateway_paid,
            p.subsidized,
            p.subsidy_native,
            p.buyback_fee,
            p.bought_native
        );
    }
    println!("billed: {}", result.billed);
    match result.status() {
        pb::TaskStatus::Done => {
            let path: PathBuf = out
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(format!("{task_id}.result.json")));
            std::fs::write(&path, &result.result)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("task {task_id} done; result written to {}", path.display());
            Ok(())
        }
        pb::TaskStatus::Failed => bail!(
            "task {task_id} failed (no result; not billed): {}",
            result.error
        ),
        _ => {
            println!("task {task_id} is still proving");
            Ok(())
        }
    }
}

/// Prints every account of the gateway's Supernets (or of `supernet`): a prover's stake,
/// earnings and record, and, where the Supernet runs the token rules, each account's native
/// tokens by place.
pub async fn accounts(gateway: &str, supernet: &str) -> Result<()> {
    let mut client = connect(gateway).await?;
    let accounts = client
        .list_accounts(pb::ListAccountsRequest {
            supernet: supernet.into(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner()
        .accounts;
    println!(
        "{:<12} {:<54} {:>7} {:>8} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "supernet",
        "peer id",
        "stake",
        "earned",
        "jobs",
        "liquid",
        "staked",
        "delegated",
        "unbonding",
        "vesting",
        "vested",
        "fees"
    );
    for a in accounts {
        let t = a.tokens.unwrap_or_default();
        println!(
            "{:<12} {:<54} {:>7} {:>8} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            a.supernet,
            a.peer_id,
            a.stake,
            a.balance,
            a.jobs_paid,
            t.liquid,
            t.staked,
            t.delegated,
            t.unbonding,
            t.vesting,
            t.vested,
            t.fee_balance
        );
    }
    Ok(())
}

/// Prints a task's status and, if done, writes its result.
pub async fn task(gateway: &str, task_id: &str, out: Option<&Path>) -> Result<()> {
    let mut client = connect(gateway).await?;
    show(&mut client, task_id, out).await
}

/// What an evidence file shows.
#[derive(Debug)]
pub enum Finding {
    /// An auction's evidence, audited: the recomputed award when the gateway kept every
    /// promise the file shows, else the deviation or why the file binds nobody.
    Auction(Result<lagrange_protocol::Award, lagrange_protocol::audit::AuditError>),
    /// A prover's two commits for one batch: the prover and the batch when they are an
    /// equivocation, else why not.
    Equivocation(
        Result<
            (lagrange_protocol::PublicKey, lagrange_protocol::BatchId),
            lagrange_protocol::equivocation::NotEquivocation,
        >,
    ),
}

/// Checks an evidence file offline: an auction's evidence (as a prover keeps it) or a
/// prover's equivocation (as a gateway keeps it).
pub fn audit(path: &Path) -> Result<Finding> {
    use lagrange_protocol::audit::{Evidence, MAX_EVIDENCE_BYTES};
    use lagrange_protocol::equivocation::Equivocation;
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_EVIDENCE_BYTES as u64 {
        anyhow::bail!(
            "{}: {len} bytes is larger than any evidence file",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if Equivocation::is_file(&bytes) {
        let e = Equivocation::from_bytes(&bytes).with_context(|| path.display().to_string())?;
        return Ok(Finding::Equivocation(e.check()));
    }
    let evidence = Evidence::from_bytes(&bytes).with_context(|| path.display().to_string())?;
    Ok(Finding::Auction(lagrange_protocol::audit::audit(&evidence)))
}

/// Fetches an awarded batch's transcript from a gateway's API and audits it (without
/// receipts or announcements: the award, the closed set and attribution). Writes the
/// evidence to `out` if given.
pub async fn audit_batch(
    gateway: &str,
    supernet: &str,
    batch: &str,
    out: Option<&Path>,
) -> Result<Finding> {
    use lagrange_protocol::audit::{Evidence, transcript_from_bytes};
    let mut client = connect(gateway).await?;
    let bytes = client
        .get_transcript(crate::api::pb::GetTranscriptRequest {
            supernet: supernet.to_string(),
            batch_id: batch.to_string(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner()
        .transcript;
    let transcript =
        transcript_from_bytes(&bytes).context("the gateway sent a malformed transcript")?;
    let evidence = Evidence::from_transcript(transcript);
    if let Some(out) = out {
        std::fs::write(out, evidence.to_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(Finding::Auction(lagrange_protocol::audit::audit(&evidence)))
}

/// Checks a result file offline and prints what it proves.
///
/// A zkML result is checked with its model's keys (`zkml/<name>.keys` in `params_dir`)
/// and, given the client's `inputs` file, also against those inputs.
pub fn verify(params_dir: &Path, result: &Path, inputs: Option<&Path>) -> Result<Checked> {
    let bytes = std::fs::read(result).with_context(|| format!("reading {}", result.display()))?;
    let inputs = inputs.map(read_zkml_inputs).transpose()?;
    let checked = check_result_file(params_dir, &bytes, inputs.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: does not verify: {e}", result.display()))?;
    Ok(checked)
}

/// Prepares an ONNX model to be served by a zkML Supernet (`lagrange-node model add`):
/// checks and quantizes it, cuts it into slices, makes the slices' keys with a one-party
/// setup, writes the model and keys into `params_dir` and returns the `[[circuits]]` entry
/// to paste into the Supernet config.
pub fn model_add(
    name: &str,
    category: JobCategory,
    onnx: &Path,
    cuts: &[usize],
    params_dir: &Path,
) -> Result<String> {
    let id = lagrange_protocol::CircuitId::new(format!(
        "{}{name}",
        lagrange_protocol::config::ZKML_PREFIX
    ))
    .map_err(|e| anyhow::anyhow!("model name {name:?}: {e}"))?;
    let bytes = std::fs::read(onnx).with_context(|| format!("reading {}", onnx.display()))?;
    let prepared = crate::circuit_workload::prepare_zkml(
        params_dir,
        &id,
        category,
        &bytes,
        cuts,
        crate::circuit_workload::KeySource::Fresh,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", onnx.display()))?;
    let entry = &prepared.entry;
    let model = entry.model.context("a prepared model has its pin")?;
    let slices: Vec<String> = prepared
        .model
        .slices()
        .iter()
        .map(|s| format!("{}..{}", s.start, s.end))
        .collect();
    Ok(format!(
        "# {name}: {} layers in slices {}, {} inputs, {} outputs, {} fractional bits;\n\
         # model and keys (one-party setup) written into {}\n\
         [[circuits]]\n\
         id = \"{id}\"\n\
         category = \"{category}\"\n\
         params_digest = \"{}\"\n\
         model = {{ onnx_digest = \"{}\", commitment = \"{}\" }}\n",
        prepared.model.model().layers.len(),
        slices.join(", "),
        prepared.model.model().input_len(),
        prepared.model.model().output_len(),
        prepared.model.model().scale_bits,
        params_dir.display(),
        entry.params_digest,
        model.onnx_digest,
        model.commitment,
    ))
}

/// The rows a RowLog contract recorded up to `to_block` (the latest by default), read from
/// its events and checked against the commitment the contract itself holds for that many
/// rows: the data set a `--from-chain` query is over.
#[cfg(feature = "chain")]
pub async fn rows_from_chain(
    rpc: &str,
    contract: &str,
    chain_id: Option<u64>,
    from_block: Option<u64>,
    to_block: Option<u64>,
) -> Result<Vec<lagrange_circuits::Row>> {
    let address = contract
        .parse()
        .with_context(|| format!("--contract {contract:?} is not an address"))?;
    let evm = crate::chain::Evm::connect(rpc, None, chain_id).await?;
    let rows = evm.rows_from_chain(address, from_block, to_block).await?;
    let data = lagrange_circuits::DataSet::new(rows)?;
    let held = evm
        .row_log_commitment_at(address, data.len() as u64)
        .await?;
    if held != Some(data.commitment()) {
        anyhow::bail!(
            "the {} rows read from {contract}'s events do not give the commitment it holds for them",
            data.len()
        );
    }
    println!(
        "read {} rows from {contract}, committed to {}",
        data.len(),
        data.commitment().to_hex()
    );
    Ok(data.rows().to_vec())
}

/// Writes a result's proofs in snarkjs's formats.
pub fn export(params_dir: &Path, result: &Path, out: &Path) -> Result<usize> {
    let bytes = std::fs::read(result).with_context(|| format!("reading {}", result.display()))?;
    export_snarkjs(params_dir, &bytes, out).map_err(|e| anyhow::anyhow!(e))
}

/// The `[[circuits]]` entry that serves a circom circuit, and where its artifacts go:
/// `lagrange-node circuit add` copies the `.zkey` and `.r1cs` into the parameter directory
/// (where the node finds them and serves them to provers) and prints the entry to paste
/// into the Supernet config.
pub fn circuit_add(
    name: &str,
    category: JobCategory,
    zkey: &Path,
    r1cs: &Path,
    wasm: Option<&Path>,
    params_dir: &Path,
) -> Result<String> {
    let id = lagrange_protocol::CircuitId::new(format!(
        "{}{name}",
        lagrange_protocol::config::CIRCOM_PREFIX
    ))
    .map_err(|e| anyhow::anyhow!("circuit name {name:?}: {e}"))?;
    let zkey_bytes = std::fs::read(zkey).with_context(|| format!("reading {}", zkey.display()))?;
    let r1cs_bytes = std::fs::read(r1cs).with_context(|| format!("reading {}", r1cs.display()))?;
    // Refuse artifacts that do not read or do not belong together, before anyone pins them.
    let key = lagrange_circuits::circom::CircomKey::from_bytes(&zkey_bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", zkey.display()))?;
    let constraints = lagrange_circuits::circom::R1cs::from_bytes(&r1cs_bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", r1cs.display()))?;
    key.matches(&constraints)
        .map_err(|e| anyhow::anyhow!("{} and {}: {e}", zkey.display(), r1cs.display()))?;
    let wasm_bytes = match wasm {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            lagrange_circuits::circom::WitnessGenerator::new(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some(bytes)
        }
        None => None,
    };
    let paths = crate::circuit_workload::circom_paths(params_dir, id.as_str());
    let (zkey_dest, r1cs_dest) = (paths.zkey, paths.r1cs);
    if let Some(dir) = zkey_dest.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&zkey_dest, &zkey_bytes)
        .with_context(|| format!("writing {}", zkey_dest.display()))?;
    std::fs::write(&r1cs_dest, &r1cs_bytes)
        .with_context(|| format!("writing {}", r1cs_dest.display()))?;
    let wasm_line = match &wasm_bytes {
        Some(bytes) => {
            std::fs::write(&paths.wasm, bytes)
                .with_context(|| format!("writing {}", paths.wasm.display()))?;
            format!("wasm_digest = \"{}\"\n", blake3::hash(bytes).to_hex())
        }
        None => String::new(),
    };
    Ok(format!(
        "# {name}: {} constraints, {} public signals; artifacts copied into {}\n\
         [[circuits]]\n\
         id = \"{id}\"\n\
         category = \"{category}\"\n\
         params_digest = \"{}\"\n\
         r1cs_digest = \"{}\"\n{wasm_line}",
        constraints.constraints(),
        constraints.public,
        params_dir.display(),
        blake3::hash(&zkey_bytes).to_hex(),
        blake3::hash(&r1cs_bytes).to_hex(),
    ))
}
