// `refinery::embed_migrations!` includes the migration files it finds, but cargo only watches
// files that already exist: watch the folder so a new migration triggers a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
