"""Decrypts a ChatVault fixture's encrypted iPhone backup with PyPI's iphone-backup-decrypt,
an implementation independent of ours: writes the decrypted Manifest.db and one file.

    python3 decrypt.py BACKUP_DIR PASSWORD_FILE OUT_DIR DOMAIN RELATIVE_PATH

Writes OUT_DIR/Manifest.db and OUT_DIR/file. Exit 3 if the package is missing.
"""
import os
import sys

try:
    from iphone_backup_decrypt import EncryptedBackup
except ImportError:
    print("iphone-backup-decrypt is not installed: python3 -m pip install iphone-backup-decrypt==0.11.2",
          file=sys.stderr)
    sys.exit(3)


def main():
    backup, password_file, out, domain, relative_path = sys.argv[1:6]
    with open(password_file, encoding="utf-8") as f:
        password = f.read()
    b = EncryptedBackup(backup_directory=backup, passphrase=password)
    b.test_decryption()
    os.makedirs(out, exist_ok=True)
    b.save_manifest_file(os.path.join(out, "Manifest.db"))
    b.extract_file(relative_path=relative_path, domain_like=domain,
                   output_filename=os.path.join(out, "file"))


if __name__ == "__main__":
    main()
