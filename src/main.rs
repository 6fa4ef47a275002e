//! `oxkube`: one binary for every component. This file only parses flags and
//! wires library crates together; each subcommand lives in `cmd/`.

mod cmd;

/// mimalloc instead of glibc malloc: the store and the API server allocate
/// per request (protobuf and JSON bodies, HTTP/2 frames), and glibc's
/// allocator took ~14 % of the store's CPU under a 64-client put load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "oxkube",
    version,
    about = "A Kubernetes-compatible control plane in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// All in one: embedded store and API server (like k3s).
    Server(cmd::server::ServerArgs),
    /// The API server alone, on an embedded store or on etcd (`--etcd-servers`).
    Apiserver(cmd::apiserver::ApiserverArgs),
    /// The key-value store alone, speaking etcd's v3 gRPC API.
    Store(cmd::store::StoreArgs),
    /// The controllers (ReplicaSet, Deployment, garbage collector, ...).
    ControllerManager(cmd::controller_manager::ControllerManagerArgs),
    /// The scheduler (filters, scores, binding through pods/binding).
    Scheduler(cmd::scheduler::SchedulerArgs),
    /// Run conformance behaviour suites against any cluster.
    Conformance(cmd::conformance::ConformanceArgs),
    /// The node agent (or, with --runtime=simulated, many simulated nodes).
    Kubelet(cmd::kubelet::KubeletArgs),
}

fn main() -> anyhow::Result<()> {
    cmd::init_process();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => cmd::server::run(args).await,
            Command::Apiserver(args) => cmd::apiserver::run(args).await,
            Command::Store(args) => cmd::store::run(args).await,
            Command::Conformance(args) => cmd::conformance::run(args).await,
            Command::ControllerManager(args) => cmd::controller_manager::run(args).await,
            Command::Scheduler(args) => cmd::scheduler::run(args).await,
            Command::Kubelet(args) => cmd::kubelet::run(args).await,
        }
    })
}
