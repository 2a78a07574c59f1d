"""SFTP emulator: a real SSH/SFTP server (paramiko) serving generated detail files."""

from emulators.sftp.generator import write_detail_file
from emulators.sftp.server import SftpEmulator, SftpFaults, Upload

__all__ = ["SftpEmulator", "SftpFaults", "Upload", "write_detail_file"]
