//! Job handlers, one file per job (named like its payload in `jobs`), and the providers they
//! talk to: SMTP, OAuth, Discord REST, image and chat.
//!
//! Empty in this build: handlers arrive with the job queue (see the README's roadmap).
