// Forwarding header: the crypto room is common/crypto/ (one header per concern). Include those
// directly; this one goes once nothing outside common/ includes it.
#pragma once

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/crypto/seal.h"
#include "common/crypto/tls_bootstrap.h"
#include "common/crypto/x509.h"
