; Inno Setup 6 script of InnovaCommerce Updater. Built by installer/build.py on Windows
; (ISCC /DAppVersion=... /DSourceDir=...\dist\InnovaCommerceUpdater), never by hand.
;
; Per-machine install to Program Files; configuration and state in
; %ProgramData%\InnovaCommerce Updater, writable by Administrators and SYSTEM only; the
; tray starts with every user's session; a SYSTEM scheduled task runs the silent update
; every night. Everything after the file copy is done by the updater itself
; ("innova-update setup-machine", see docs/deploying.md), so that it is the same code
; that the tests run.
;
; Command line (besides Inno Setup's own /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /LOG /DIR):
;   /CONFIG=path       the machine configuration (config.toml) to install; a root.json
;                      named by a relative path in it is copied too
;   /FEEDURL=url       set the feed's address in that configuration
;   /UPDATEHOUR=HH:MM  when the nightly silent update runs (default 03:00)
;   /UPDATEARGS="..."  what it runs (default: update --silent)
;   /NOTASK            no nightly task
; Uninstall: /KEEPSNAPSHOTS keeps the saved copies of previous versions (asked when not silent).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\dist\InnovaCommerceUpdater"
#endif
#define AppName "InnovaCommerce Updater"
#define Cli "innova-update.exe"
#define Tray "innova-update-tray.exe"

[Setup]
AppId={{6B7C2E0A-3D51-4C1B-9A57-2F6E2B1D8C40}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=InnovaCommerce
DefaultDirName={autopf}\{#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=InnovaCommerceUpdater-Setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#Tray}
UninstallDisplayName={#AppName}
SetupLogging=yes
CloseApplications=yes
RestartApplications=no
ShowLanguageDialog=auto
VersionInfoVersion={#AppVersion}

[Languages]
Name: "es"; MessagesFile: "compiler:Languages\Spanish.isl"
Name: "en"; MessagesFile: "compiler:Default.isl"

[CustomMessages]
es.ConfigPageTitle=Configuración del actualizador
es.ConfigPageText=Elija el archivo de configuración (config.toml) que le ha dado InnovaCommerce o su técnico.
es.ConfigFile=Archivo de configuración:
es.SetupFailed=No se ha podido configurar el actualizador (código %1). Consulte el registro de la instalación y ejecute "innova-update doctor".
es.KeepSnapshots=¿Conservar las copias guardadas de las versiones anteriores de TPV y ERP?%n%nSi responde No, se borran junto con el historial del actualizador.
es.StartTray=Iniciar el actualizador en la bandeja del sistema
en.ConfigPageTitle=Updater configuration
en.ConfigPageText=Choose the configuration file (config.toml) InnovaCommerce or your technician gave you.
en.ConfigFile=Configuration file:
en.SetupFailed=The updater could not be set up (code %1). See the setup log and run "innova-update doctor".
en.KeepSnapshots=Keep the saved copies of previous versions of the TPV and the ERP?%n%nIf you answer No, they are deleted with the updater's history.
en.StartTray=Start the updater in the system tray

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Registry]
; The tray starts with every user's session.
Root: HKLM; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; \
  ValueName: "{#AppName}"; ValueData: """{app}\{#Tray}"""; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#Tray}"; Description: "{cm:StartTray}"; \
  Flags: nowait postinstall skipifsilent runasoriginaluser

[UninstallRun]
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM {#Tray}"; Flags: runhidden; RunOnceId: "StopTray"
Filename: "{app}\{#Cli}"; Parameters: "setup-machine --remove {code:KeepArg}"; \
  Flags: runhidden waituntilterminated; RunOnceId: "RemoveSetup"

[Code]
var
  ConfigPage: TInputFileWizardPage;
  KeepSnapshots: Boolean;

function ConfigInstalled(): Boolean;
begin
  Result := FileExists(ExpandConstant('{commonappdata}\{#AppName}\config.toml'));
end;

procedure InitializeWizard();
begin
  ConfigPage := CreateInputFilePage(wpSelectDir, CustomMessage('ConfigPageTitle'),
    CustomMessage('ConfigPageText'), '');
  ConfigPage.Add(CustomMessage('ConfigFile'), 'TOML (*.toml)|*.toml', '.toml');
  ConfigPage.Values[0] := ExpandConstant('{param:CONFIG|}');
end;

function ShouldSkipPage(PageID: Integer): Boolean;
begin
  { Upgrades keep the configuration in place; /CONFIG= answers the question. }
  Result := (PageID = ConfigPage.ID) and
    (ConfigInstalled() or (ExpandConstant('{param:CONFIG|}') <> ''));
end;

function Quoted(const Value: String): String;
begin
  Result := '"' + Value + '"';
end;

function SetupArgs(): String;
var
  ConfigFrom, FeedUrl, Hour, Args: String;
begin
  Result := 'setup-machine';
  ConfigFrom := ExpandConstant('{param:CONFIG|}');
  if (ConfigFrom = '') and (ConfigPage.Values[0] <> '') then
    ConfigFrom := ConfigPage.Values[0];
  if ConfigFrom <> '' then
    Result := Result + ' --config-from ' + Quoted(ConfigFrom);
  FeedUrl := ExpandConstant('{param:FEEDURL|}');
  if FeedUrl <> '' then
    Result := Result + ' --feed-url ' + Quoted(FeedUrl);
  if Pos('/NOTASK', UpperCase(GetCmdTail())) > 0 then
    Result := Result + ' --no-task'
  else begin
    Hour := ExpandConstant('{param:UPDATEHOUR|03:00}');
    Result := Result + ' --update-at ' + Hour;
    Args := ExpandConstant('{param:UPDATEARGS|}');
    if Args <> '' then
      Result := Result + ' --update-args ' + Quoted(Args);
  end;
end;

procedure CurStepChanged(CurStep: TSetupStep);
var
  Code: Integer;
begin
  if CurStep = ssInstall then
    { An older tray must not hold the files being replaced. }
    Exec(ExpandConstant('{sys}\taskkill.exe'), '/F /IM {#Tray}', '', SW_HIDE,
      ewWaitUntilTerminated, Code);
  if CurStep = ssPostInstall then begin
    Log('Running: {#Cli} ' + SetupArgs());
    if not Exec(ExpandConstant('{app}\{#Cli}'), SetupArgs(), ExpandConstant('{app}'),
      SW_HIDE, ewWaitUntilTerminated, Code) or (Code <> 0) then
    begin
      Log('setup-machine failed with code ' + IntToStr(Code));
      SuppressibleMsgBox(FmtMessage(CustomMessage('SetupFailed'), [IntToStr(Code)]),
        mbError, MB_OK, IDOK);
    end;
  end;
end;

function InitializeUninstall(): Boolean;
begin
  KeepSnapshots := Pos('/KEEPSNAPSHOTS', UpperCase(GetCmdTail())) > 0;
  if (not KeepSnapshots) and (not UninstallSilent()) then
    KeepSnapshots := MsgBox(CustomMessage('KeepSnapshots'), mbConfirmation, MB_YESNO) = IDYES;
  Result := True;
end;

function KeepArg(Param: String): String;
begin
  if KeepSnapshots then
    Result := '--keep-snapshots'
  else
    Result := '';
end;
