//! SCEP messages: BER-tolerant decode, CMS verify and decrypt, CertRep build. No I/O.
