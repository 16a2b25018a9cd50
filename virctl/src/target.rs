//! Resolves who we are (certificate) and which server we call, from flags or federation.toml.

use anyhow::{bail, Context};
use tonic::transport::Channel;
use vir_shared::localfed::FederationFile;
use vir_shared::tls::{self, TlsPaths};

use crate::cli::TargetArgs;

/// A node to call, and the certificate to call it with.
pub fn node_channel(args: &TargetArgs) -> anyhow::Result<Channel> {
    if let Some(url) = &args.node {
        let (Some(cert), Some(key), Some(ca)) = (&args.cert, &args.key, &args.ca) else {
            bail!("--node needs --cert, --key and --ca");
        };
        let paths = TlsPaths::new(cert, key, ca);
        return Ok(tls::channel(url, &paths, &args.server_name)?);
    }
    let fed = FederationFile::load(&args.data)?;
    let org_id = args
        .as_org
        .as_deref()
        .context("say who you are: --as REGION/ORG (e.g. --as drenthe/school), or --node with --cert/--key/--ca")?;
    let org = fed.organisation(org_id)?;
    let node = fed.node(&org.region)?;
    Ok(tls::channel(&node.url, &org.tls, &node.server_name)?)
}

/// The hub, called with the operator certificate of the local federation or the given one.
pub fn hub_channel(args: &TargetArgs) -> anyhow::Result<Channel> {
    let fed = FederationFile::load(&args.data)?;
    let paths = match (&args.cert, &args.key, &args.ca) {
        (Some(cert), Some(key), Some(ca)) => TlsPaths::new(cert, key, ca),
        _ => fed.operator.clone(),
    };
    Ok(tls::channel(&fed.hub.url, &paths, &fed.hub.server_name)?)
}
