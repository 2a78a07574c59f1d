"""SFTP emulator: a real SSH/SFTP server (paramiko) serving generated detail files."""

from emulators.sftp.generator import write_detail_file
from emulators.sftp.server import SftpEmulator, SftpFaults

__all__ = ["SftpEmulator", "SftpFaults", "write_detail_file"]
