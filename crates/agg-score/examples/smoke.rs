use agg_score::embed::{Device, Embedder, OrtEmbedder, cosine};
fn main() {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let e = OrtEmbedder::with_device(Device::Auto).unwrap();
    let v = e
        .embed(&[
            "Stocks fall as oil prices rise",
            "Shares drop on higher crude prices",
            "Team wins the championship final",
            "",
            "😀😀",
            "Привет мир",
        ])
        .unwrap();
    println!("{} {:?}", e.model_id(), e.placement());
    println!("{} {}", cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    println!("{:?}", &v[0][..5]);
}
